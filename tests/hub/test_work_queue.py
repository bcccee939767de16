"""``GET /v1/transactions``: an agency's work queue, paged, filtered, token-protected."""

from __future__ import annotations

from fastapi.testclient import TestClient

from central_hub.auth import hash_secret, new_api_token
from tests.hub.inprocess import hub_store
from tests.hub.nodes import T0_MS, ScriptedNode


def _token(client: TestClient, role: str) -> dict[str, str]:
    token = new_api_token()
    hub_store(client).create_api_token(hash_secret(token), role, role, T0_MS)
    return {"authorization": f"Bearer {token}"}


def test_pages_through_transactions_oldest_first(client: TestClient, node: ScriptedNode) -> None:
    node.push(node.seal(node.records(7)))
    agency = _token(client, "agency")
    seen: list[str] = []
    after = None
    while True:
        params = {"status": "created", "limit": 3} | ({"after": after} if after else {})
        page = client.get("/v1/transactions", params=params, headers=agency)
        assert page.status_code == 200, page.text
        items = page.json()["transactions"]
        seen += [item["transaction_id"] for item in items]
        assert all(item["center_id"] == "arish" for item in items)
        if not page.json()["has_more"]:
            break
        after = items[-1]["transaction_id"]
    assert len(seen) == 7
    assert seen == sorted(seen)
    other_center = client.get("/v1/transactions", params={"center": "aswan"}, headers=agency)
    assert other_center.json()["transactions"] == []


def test_needs_an_agency_token_and_valid_filters(client: TestClient, node: ScriptedNode) -> None:
    assert client.get("/v1/transactions").status_code == 401
    assert client.get("/v1/transactions", headers=_token(client, "operator")).status_code == 403
    agency = _token(client, "agency")
    for params in ({"status": "lost"}, {"limit": 0}, {"limit": 501}, {"after": "nope"}):
        answer = client.get("/v1/transactions", params=params, headers=agency)
        assert 400 <= answer.status_code < 500, params
        assert answer.json()["code"], answer.text
