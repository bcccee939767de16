"""The agency desk API and the workflow rules at the hub, in-process on SQLite and
PostgreSQL: tokens bound to one agency, the queue of what waits on it, decisions (scoped,
idempotent, refused with the rule's code and nothing written), the approval report, and a
center's batch judged by the same rules."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from central_hub.auth import hash_secret, new_api_token
from central_hub.storage import schema
from sync_protocol import DecisionChange
from tests.hub.inprocess import hub_store
from tests.hub.nodes import T0_MS, FakeClock, ScriptedNode

LICENCE = ("civil-defense", "health", "local-unit")  # LIC-SHOP in the shipped catalog


def _token(client: TestClient, agency: str | None, name: str = "officer-1") -> dict[str, str]:
    token = new_api_token()
    role = "agency" if agency is not None else "operator"
    hub_store(client).create_api_token(hash_secret(token), role, name, T0_MS, agency_code=agency)
    return {"authorization": f"Bearer {token}"}


def _open(node: ScriptedNode, count: int = 1, agencies: tuple[str, ...] = LICENCE) -> list[str]:
    records = node.records(count, service="LIC-SHOP", agencies=agencies)
    assert node.push(node.seal(records)).status_code == 200
    return [str(record.transaction_id) for record in records]


_keys = iter(range(10**6))


def _decide(
    client: TestClient,
    auth: dict[str, str],
    txn: str,
    decision: str,
    *,
    key: str | None = None,
    **body: str,
):  # type: ignore[no-untyped-def]
    headers = auth | {"idempotency-key": key or f"test-key-{next(_keys):08d}"}
    return client.post(
        f"/v1/agency/transactions/{txn}/decisions",
        json={"decision": decision, **body},
        headers=headers,
    )


def _problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert (response.status_code, response.json().get("code")) == (status, code), response.text
    return response.json()


def _events(client: TestClient) -> int:
    with hub_store(client).engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(schema.events)).scalar())


# --- tokens ----------------------------------------------------------------------------------


def test_agency_routes_need_a_token_bound_to_one_agency(client: TestClient) -> None:
    _problem(client.get("/v1/agency/queue"), 401, "missing_token")
    _problem(
        client.get("/v1/agency/queue", headers={"authorization": "Bearer x"}), 401, "unknown_token"
    )
    _problem(client.get("/v1/agency/queue", headers=_token(client, None)), 403, "wrong_role")
    # A token of the previous release: role agency, no agency.
    token = new_api_token()
    hub_store(client).create_api_token(hash_secret(token), "agency", "passports", T0_MS)
    problem = _problem(
        client.get("/v1/agency/queue", headers={"authorization": f"Bearer {token}"}),
        403,
        "token_unscoped",
    )
    assert "--agency" in problem["hint"]


# --- the queue -------------------------------------------------------------------------------


def test_the_queue_holds_what_waits_on_this_agency_oldest_first_paged(
    client: TestClient, node: ScriptedNode, clock: FakeClock
) -> None:
    waiting = _open(node, 5)
    _open(node, 2, agencies=("passports",))  # never in health's queue
    _open(node, 1, agencies=())
    health = _token(client, "health")
    seen, after = [], None
    while True:
        params = {"limit": 2} | ({"after": after} if after else {})
        page = client.get("/v1/agency/queue", params=params, headers=health)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [item["transaction_id"] for item in body["transactions"]]
        if not body["has_more"]:
            break
        after = body["next"]
    assert seen == waiting  # recorded in this order: the oldest wait first
    item = client.get("/v1/agency/queue", headers=health).json()["transactions"][0]
    assert item["approvals"] == [{"agency_code": a, "state": "pending"} for a in LICENCE]
    clock.now_ms = item["waiting_since_ms"] + 90_500
    item = client.get("/v1/agency/queue", headers=health).json()["transactions"][0]
    assert item["waiting_seconds"] == 90
    filtered = client.get("/v1/agency/queue", params={"center": "aswan"}, headers=health)
    assert filtered.json()["transactions"] == []
    by_service = client.get("/v1/agency/queue", params={"service": "LIC-SHOP"}, headers=health)
    assert len(by_service.json()["transactions"]) == 5
    _problem(
        client.get("/v1/agency/queue", params={"after": "x"}, headers=health), 400, "invalid_cursor"
    )


def test_a_decided_or_closed_part_leaves_the_queue_and_an_answer_brings_it_back(
    client: TestClient, node: ScriptedNode
) -> None:
    first, second = _open(node, 2)
    health, defense = _token(client, "health"), _token(client, "civil-defense")
    assert _decide(client, health, first, "approved").status_code == 200
    asked = _decide(
        client, health, second, "info_requested", reason_code="missing_document", note="عقد الإيجار"
    )
    assert asked.status_code == 200, asked.text
    assert client.get("/v1/agency/queue", headers=health).json()["transactions"] == []
    # Civil defence rejects the first: nothing is left for anyone else to decide on it.
    assert (
        _decide(client, defense, first, "rejected", reason_code="inspection_failed").json()[
            "status"
        ]
        == "rejected"
    )
    local = _token(client, "local-unit")
    assert [
        i["transaction_id"]
        for i in client.get("/v1/agency/queue", headers=local).json()["transactions"]
    ] == [second]
    # The center answers the information request: back in the health queue.
    answer = node.decision(uuid.UUID(second), "health", "info_provided")
    assert node.push(node.seal([answer])).status_code == 200
    queue = client.get("/v1/agency/queue", headers=health).json()["transactions"]
    assert [(i["transaction_id"], i["waiting_since_ms"], i["center_answered"]) for i in queue] == [
        (second, answer.recorded_at_ms, True)
    ]


# --- deciding --------------------------------------------------------------------------------


def test_a_decision_is_the_tokens_agency_and_actor_and_reaches_the_center(
    client: TestClient, node: ScriptedNode
) -> None:
    (txn,) = _open(node)
    response = _decide(
        client, _token(client, "health", name="officer-77"), txn, "approved", note="تمت الموافقة"
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["agency_code"], answer["status"]) == ("health", "in_review")
    assert answer["approvals"] == [
        {"agency_code": "civil-defense", "state": "pending"},
        {"agency_code": "health", "state": "approved"},
        {"agency_code": "local-unit", "state": "pending"},
    ]
    decisions = [c for c in node.pull(0, time_ms=T0_MS).changes if isinstance(c, DecisionChange)]
    assert [(c.record.agency_code, c.record.actor_id, c.record.note) for c in decisions] == [
        ("health", "officer-77", "تمت الموافقة")
    ]


def test_refused_decisions_carry_the_rules_code_and_write_nothing(
    client: TestClient, node: ScriptedNode
) -> None:
    (txn,) = _open(node)
    health, passports = _token(client, "health"), _token(client, "passports")
    before = _events(client)
    _problem(_decide(client, passports, txn, "approved"), 403, "wrong_agency")
    _problem(_decide(client, health, str(uuid.uuid4()), "approved"), 404, "unknown_transaction")
    _problem(_decide(client, health, txn, "info_provided"), 403, "decision_not_allowed")
    _problem(_decide(client, health, txn, "info_requested"), 400, "invalid_record")  # no note
    _problem(_decide(client, health, txn, "maybe"), 400, "invalid_decision")
    stray = _decide(client, health, txn, "approved", actor_id="someone-else")
    assert _problem(stray, 400, "invalid_request")["errors"][0]["loc"] == ["actor_id"]
    _problem(_decide(client, health, txn, "rejected", reason_code="because"), 400, "invalid_record")
    assert _events(client) == before
    assert (
        _decide(
            client, health, txn, "info_requested", reason_code="other", note="خريطة الموقع"
        ).status_code
        == 200
    )
    _problem(_decide(client, health, txn, "approved"), 409, "awaiting_information")
    assert node.push(node.seal([node.decision(uuid.UUID(txn), "health")])).status_code == 200
    assert _decide(client, health, txn, "approved").status_code == 200
    _problem(
        _decide(client, health, txn, "rejected", reason_code="not_eligible"), 409, "already_decided"
    )
    assert node.push(node.seal([node.status(uuid.UUID(txn), "cancelled")])).status_code == 200
    _problem(
        _decide(client, _token(client, "local-unit"), txn, "approved"), 409, "transaction_closed"
    )


def test_a_resent_decision_gets_the_same_answer_and_decides_once(
    client: TestClient, node: ScriptedNode
) -> None:
    (txn,) = _open(node)
    health = _token(client, "health")
    first = _decide(client, health, txn, "approved", key="resend-0001")
    again = _decide(client, health, txn, "approved", key="resend-0001")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    _problem(
        _decide(client, health, txn, "rejected", key="resend-0001", reason_code="other"),
        409,
        "idempotency_key_reused",
    )
    assert (
        len([c for c in node.pull(0, time_ms=T0_MS).changes if isinstance(c, DecisionChange)]) == 1
    )


def test_an_agency_sees_a_transaction_that_needs_it_without_citizen_data(
    client: TestClient, node: ScriptedNode
) -> None:
    (txn,) = _open(node)
    health = _token(client, "health")
    defense = _token(client, "civil-defense")
    asked = _decide(client, defense, txn, "info_requested", reason_code="other", note="سجل تجاري")
    assert asked.status_code == 200
    view = client.get(f"/v1/agency/transactions/{txn}", headers=health)
    assert view.status_code == 200, view.text
    assert view.json()["status"] == "in_review"
    assert "29001013412375" not in view.text and "محمد" not in view.text
    # Another agency's part shows as a state; its notes are not health's to read.
    parts = {part["agency_code"]: part["state"] for part in view.json()["approvals"]}
    assert parts["civil-defense"] == "info_requested" and "سجل تجاري" not in view.text
    own = client.get(f"/v1/agency/transactions/{txn}", headers=defense).json()
    assert [event["note"] for event in own["events"]] == ["سجل تجاري"]
    _problem(
        client.get(f"/v1/agency/transactions/{txn}", headers=_token(client, "passports")),
        403,
        "wrong_agency",
    )


def test_a_previous_release_transaction_is_decided_by_its_services_owner(
    client: TestClient, node: ScriptedNode
) -> None:
    legacy = node.records(1, service="PAS-RENEW", agencies=None)[0]
    assert node.push(node.seal([legacy])).status_code == 200
    passports = _token(client, "passports")
    queue = client.get("/v1/agency/queue", headers=passports).json()["transactions"]
    assert [item["transaction_id"] for item in queue] == [str(legacy.transaction_id)]
    assert (
        _decide(client, passports, str(legacy.transaction_id), "approved").json()["status"]
        == "approved"
    )


# --- the report ------------------------------------------------------------------------------


def test_the_report_gives_time_to_decision_and_waiting_per_center(
    client: TestClient, node: ScriptedNode, clock: FakeClock
) -> None:
    txns = _open(node, 4)
    health = _token(client, "health")
    for minutes, txn in zip((10, 20, 30), txns, strict=False):
        clock.now_ms = T0_MS + minutes * 60_000
        assert _decide(client, health, txn, "approved").status_code == 200
    report = client.get("/v1/approvals", headers=health).json()
    (mine,) = report["agencies"]
    assert (mine["agency_code"], mine["decided"], mine["waiting"]) == ("health", 3, 1)
    assert 1190 <= mine["median_decision_seconds"] <= 1210  # 20 minutes
    assert 1790 <= mine["p90_decision_seconds"] <= 1810
    assert mine["centers"][0]["center_id"] == "arish"
    everyone = client.get("/v1/approvals", headers=_token(client, None)).json()["agencies"]
    assert {row["agency_code"] for row in everyone} == set(LICENCE)


# --- the center's batch, judged by the same rules --------------------------------------------


def test_a_center_cannot_deliver_before_approval_nor_decide_an_agencys_part(
    client: TestClient, node: ScriptedNode
) -> None:
    (txn,) = _open(node)
    before = _events(client)
    head = node.seq, node.head_hash

    def refused(record) -> dict:  # type: ignore[no-untyped-def]
        answer = node.push(node.seal([record]))
        node.seq, node.head_hash = head  # refused: the chain did not move
        return answer  # type: ignore[return-value]

    problem = _problem(refused(node.status(uuid.UUID(txn), "delivered")), 409, "not_approved")
    assert problem["detail"].startswith("record 0:")
    forged = refused(node.decision(uuid.UUID(txn), "health", "approved"))
    _problem(forged, 403, "decision_not_allowed")
    unasked = refused(node.decision(uuid.UUID(txn), "health"))
    _problem(unasked, 409, "no_information_requested")
    assert _events(client) == before


def test_a_service_without_approvals_is_delivered_at_once(
    client: TestClient, node: ScriptedNode
) -> None:
    (txn,) = _open(node, agencies=())
    delivered = node.push(node.seal([node.status(uuid.UUID(txn), "delivered")]))
    assert delivered.status_code == 200, delivered.text


@pytest.mark.parametrize("kind", ["in_review", "approved"])
def test_the_previous_release_statuses_are_taken_on_its_own_transactions_only(
    client: TestClient, node: ScriptedNode, kind: str
) -> None:
    legacy = node.records(1, service="PAS-RENEW", agencies=None)[0]
    status = node.status(legacy.transaction_id, kind)
    assert node.push(node.seal([legacy, status])).status_code == 200
    (txn,) = _open(node)
    refused = node.push(node.seal([node.status(uuid.UUID(txn), kind)]))
    _problem(refused, 403, "decision_not_allowed")
