"""Every failed request gets a problem body with a stable ``code`` and ``X-EGSync-Time``,
in-process on SQLite and PostgreSQL: unknown routes (404), wrong methods (405), crashes
(500, whose text never leaks), and one status for bad input (400 ``invalid_request``,
never FastAPI's 422)."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import StatementError

from central_hub.auth import hash_secret, new_api_token
from central_hub.enrollment import provision_center
from central_hub.storage.store import SqlStore
from tests.hub.inprocess import hub_store
from tests.hub.nodes import T0_MS, FakeClock, ScriptedNode

SECRET_TEXT = "password=hunter2 token=ege_SECRET"


def _problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert (response.status_code, response.json().get("code")) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["x-egsync-time"].isdigit(), "every answer carries the hub time"
    body = response.json()
    assert body["status"] == status
    assert body["title"] == code.replace("_", " ")
    return body


@pytest.fixture
def agency_token(client: TestClient) -> str:
    token = new_api_token()
    store = hub_store(client)
    store.create_api_token(hash_secret(token), "agency", "officer-1", T0_MS, agency_code="health")
    return token


def _boom(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError(SECRET_TEXT)


# --- routes and methods that do not exist ----------------------------------------------------


def test_an_unknown_path_is_404_not_found(client: TestClient, clock: FakeClock) -> None:
    response = client.get("/v1/nothing-here")
    _problem(response, 404, "not_found")
    assert response.headers["x-egsync-time"] == str(clock.now_ms)


def test_a_wrong_method_is_405_method_not_allowed_with_allow(client: TestClient) -> None:
    response = client.delete("/v1/batches")
    _problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


# --- unexpected errors --------------------------------------------------------------------------


def test_a_crash_in_a_sync_route_is_a_500_problem_that_leaks_nothing(
    client: TestClient,
    node: ScriptedNode,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(hub_store(client), "get_node", _boom)
    response = node.signed("GET", "/v1/chain-head", time_ms=T0_MS)
    body = _problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["detail"] == "the hub hit an unexpected error; retry later"
    assert response.headers["x-egsync-time"] == str(clock.now_ms)
    # The traceback is for the hub's own log, with the request that hit it.
    assert "unhandled error: GET /v1/chain-head" in caplog.text


def test_a_crash_in_an_async_route_is_a_500_problem_too(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_store(client), "latest_catalog", _boom)
    token = provision_center(hub_store(client), "aswan", "أسوان", now_ms=T0_MS, ttl_hours=1).token
    response = ScriptedNode(client).enroll(token)
    _problem(response, 500, "internal_error")
    assert "hunter2" not in response.text


def test_database_errors_never_carry_statement_parameters(store: SqlStore) -> None:
    # Parameters hold citizens' records (national ID, name): they must not reach a log
    # line. (PostgreSQL's own DETAIL still names a duplicate key; no key is personal data.)
    store.create_api_token("f" * 64, "agency", "passports", T0_MS)
    with pytest.raises(StatementError) as raised:
        store.create_api_token("f" * 64, "agency", "محمد أحمد علي", T0_MS)
    assert "محمد" not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)


# --- one rule for bad input: 400 invalid_request -----------------------------------------------


def test_an_invalid_query_parameter_is_400_not_422(client: TestClient, node: ScriptedNode) -> None:
    body = _problem(
        node.signed("GET", "/v1/changes?after=-1", time_ms=T0_MS), 400, "invalid_request"
    )
    assert body["errors"][0]["loc"] == ["query", "after"]


def test_an_unsigned_request_is_refused_before_its_parameters_are_checked(
    client: TestClient,
) -> None:
    _problem(client.get("/v1/changes?after=-1"), 401, "missing_signature")


def test_an_enrollment_body_missing_fields_is_400_with_the_fields(client: TestClient) -> None:
    body = _problem(client.post("/v1/enroll", json={"token": "x"}), 400, "invalid_request")
    assert sorted(error["loc"][0] for error in body["errors"]) == [
        "proof",
        "sealing_key",
        "software_version",
        "verify_key",
    ]


def test_an_enrollment_body_that_is_not_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/enroll", content=b"token=abc", headers={"content-type": "application/json"}
    )
    _problem(response, 400, "invalid_request")


def test_an_invalid_field_is_named_but_its_value_never_echoed(client: TestClient) -> None:
    token = "ege_" + secrets.token_urlsafe(200)  # longer than any token the hub issues
    body = {
        "token": token,
        "verify_key": "a",
        "sealing_key": "b",
        "proof": "c",
        "software_version": "1",
    }
    response = client.post("/v1/enroll", json=body)
    problem = _problem(response, 400, "invalid_request")
    assert [error["loc"] for error in problem["errors"]] == [["token"]]
    assert token not in response.text


def test_a_malformed_heartbeat_is_400_naming_the_fields(
    client: TestClient, node: ScriptedNode
) -> None:
    response = node.signed("POST", "/v1/heartbeat", json_body={"pending_events": -1}, time_ms=T0_MS)
    problem = _problem(response, 400, "invalid_request")
    assert ["pending_events"] in [error["loc"] for error in problem["errors"]]


def _decisions(transaction_id: object) -> str:
    return f"/v1/agency/transactions/{transaction_id}/decisions"


def test_the_agency_route_checks_the_token_before_the_body(client: TestClient) -> None:
    response = client.post(_decisions(uuid.uuid4()), content=b"not json")
    _problem(response, 401, "missing_token")
    response = client.post(_decisions("not-a-uuid"), json={})
    _problem(response, 401, "missing_token")


def test_the_agency_route_answers_bad_input_with_400(client: TestClient, agency_token: str) -> None:
    auth = {"authorization": f"Bearer {agency_token}", "idempotency-key": "k-0000001"}
    response = client.post(_decisions("not-a-uuid"), json={"decision": "approved"}, headers=auth)
    problem = _problem(response, 400, "invalid_request")
    assert problem["errors"][0]["loc"] == ["path", "transaction_id"]
    response = client.post(_decisions(uuid.uuid4()), json={"note": "x"}, headers=auth)
    problem = _problem(response, 400, "invalid_request")
    assert problem["errors"][0]["loc"] == ["decision"]
    no_key = {"authorization": auth["authorization"]}
    response = client.post(_decisions(uuid.uuid4()), json={"decision": "approved"}, headers=no_key)
    problem = _problem(response, 400, "invalid_request")
    assert problem["errors"][0]["loc"] == ["header", "idempotency-key"]


def test_the_previous_releases_agency_routes_are_gone_with_a_hint(client: TestClient) -> None:
    for response in (
        client.get("/v1/transactions"),
        client.post(f"/v1/transactions/{uuid.uuid4()}/status", json={"status": "approved"}),
    ):
        problem = _problem(response, 410, "route_retired")
        assert "/v1/agency/queue" in problem["hint"]


def test_openapi_never_advertises_422_and_documents_every_json_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert '"422"' not in json.dumps(spec)
    for path, method in [
        ("/v1/enroll", "post"),
        ("/v1/heartbeat", "post"),
        ("/v1/agency/transactions/{transaction_id}/decisions", "post"),
    ]:
        operation = spec["paths"][path][method]
        assert "application/json" in operation["requestBody"]["content"], path
        assert "4XX" in operation["responses"], path
