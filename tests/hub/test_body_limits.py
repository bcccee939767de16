"""Every request body is bounded before anything parses it, in-process on SQLite and
PostgreSQL: over the bound, each route answers ``413 body_too_large`` whether the size is
declared (``Content-Length``) or only found while reading (chunked), and nothing changes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from central_hub.api.app import MAX_JSON_BYTES
from central_hub.auth import hash_secret, new_api_token
from central_hub.storage import schema
from sync_protocol.request_auth import sign_request
from tests.hub.inprocess import hub_store, provision_token
from tests.hub.nodes import T0_MS, ScriptedNode


def _digest(client: TestClient) -> str:
    digest = hashlib.sha256()
    with hub_store(client).engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            digest.update(table.name.encode())
            for row in sorted(repr(tuple(r)) for r in connection.execute(select(table))):
                digest.update(row.encode())
    return digest.hexdigest()


def _too_large(response: httpx.Response) -> None:
    assert (response.status_code, response.json().get("code")) == (413, "body_too_large"), (
        response.text
    )
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "x-egsync-time" in response.headers


def _chunked(size: int) -> Iterator[bytes]:
    """A body with no Content-Length: the hub only learns its size by reading it."""
    sent = 0
    while sent < size:
        chunk = b" " * min(8192, size - sent)
        sent += len(chunk)
        yield chunk


@pytest.fixture
def agency(client: TestClient) -> dict[str, str]:
    token = new_api_token()
    store = hub_store(client)
    store.create_api_token(hash_secret(token), "agency", "officer-1", T0_MS, agency_code="health")
    return {"authorization": f"Bearer {token}", "idempotency-key": "key-00000001"}


DECLARED = {"content-length": str(MAX_JSON_BYTES + 1), "content-type": "application/json"}


# --- POST /v1/enroll ---------------------------------------------------------------------------


def test_enroll_refuses_a_declared_oversize_body_and_keeps_the_token(client: TestClient) -> None:
    token = provision_token(client)
    before = _digest(client)
    _too_large(client.post("/v1/enroll", content=b"{}", headers=DECLARED))
    assert _digest(client) == before
    assert ScriptedNode(client).enroll(token).status_code == 200


def test_enroll_refuses_an_oversize_chunked_body(client: TestClient) -> None:
    before = _digest(client)
    response = client.post(
        "/v1/enroll",
        content=_chunked(MAX_JSON_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    _too_large(response)
    assert _digest(client) == before


def test_enroll_reads_a_body_of_exactly_the_bound(client: TestClient) -> None:
    body = b"{" + b" " * (MAX_JSON_BYTES - 2) + b"}"
    response = client.post("/v1/enroll", content=body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")


# --- signed routes: heartbeat, chain head, changes ----------------------------------------------


def _signed_oversize(
    node: ScriptedNode, method: str, target: str, *, chunked: bool
) -> httpx.Response:
    assert node.node_id is not None
    body = b" " * (MAX_JSON_BYTES + 1)
    headers = sign_request(
        method,
        target,
        body,
        node_id=node.node_id,
        key=node.signing_key,
        time_ms=T0_MS,
        nonce=secrets.token_hex(16),
    )
    content = _chunked(len(body)) if chunked else body
    return node.http.request(method, target, content=content, headers=headers)


@pytest.mark.parametrize(
    ("method", "target"),
    [("POST", "/v1/heartbeat"), ("GET", "/v1/chain-head"), ("GET", "/v1/changes?after=0")],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_signed_routes_refuse_an_oversize_body(
    client: TestClient, node: ScriptedNode, method: str, target: str, chunked: bool
) -> None:
    before = _digest(client)
    _too_large(_signed_oversize(node, method, target, chunked=chunked))
    assert _digest(client) == before  # not even the nonce is consumed


# --- POST /v1/agency/transactions/{id}/decisions (agency) ----------------------------------------


def test_agency_route_refuses_a_declared_oversize_body(
    client: TestClient, agency: dict[str, str]
) -> None:
    before = _digest(client)
    url = f"/v1/agency/transactions/{uuid.uuid4()}/decisions"
    _too_large(client.post(url, content=b"{}", headers=DECLARED | agency))
    assert _digest(client) == before


def test_agency_route_refuses_an_oversize_chunked_body(
    client: TestClient, agency: dict[str, str]
) -> None:
    before = _digest(client)
    url = f"/v1/agency/transactions/{uuid.uuid4()}/decisions"
    _too_large(client.post(url, content=_chunked(MAX_JSON_BYTES + 1), headers=agency))
    assert _digest(client) == before


def test_agency_route_reads_no_body_without_a_token(client: TestClient) -> None:
    url = f"/v1/agency/transactions/{uuid.uuid4()}/decisions"
    response = client.post(url, content=b"{}", headers=DECLARED)
    assert (response.status_code, response.json()["code"]) == (401, "missing_token")


# --- POST /v1/batches (its own, larger bound) ---------------------------------------------


def test_batches_refuse_an_oversize_chunked_body(client: TestClient, node: ScriptedNode) -> None:
    limit = 16 * 1024 * 1024  # HubSettings.max_body_bytes default
    before = _digest(client)
    response = client.post(
        "/v1/batches",
        content=_chunked(limit + 1),
        headers={"content-type": "application/octet-stream"},
    )
    _too_large(response)
    assert _digest(client) == before
