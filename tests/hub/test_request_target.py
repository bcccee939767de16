"""The signed request target is the one on the wire (raw path and raw query), not the
path after percent-decoding: in-process on SQLite and PostgreSQL, plus the rule itself on
bare ASGI scopes."""

from __future__ import annotations

import secrets

import httpx
from starlette.requests import Request

from central_hub.api.app import _target
from sync_protocol import open_changes, parse_envelope
from sync_protocol.request_auth import sign_request
from tests.hub.nodes import T0_MS, ScriptedNode


def _send(node: ScriptedNode, *, signed: str, sent: str) -> httpx.Response:
    """Sign one target and send another (a proxy or client that rewrote the URL)."""
    assert node.node_id is not None
    headers = sign_request(
        "GET",
        signed,
        b"",
        node_id=node.node_id,
        key=node.signing_key,
        time_ms=T0_MS,
        nonce=secrets.token_hex(16),
    )
    return node.http.get(sent, headers=headers)


def test_a_percent_encoded_path_verifies_as_sent(node: ScriptedNode) -> None:
    response = _send(node, signed="/v1/chain%2Dhead", sent="/v1/chain%2Dhead")
    assert response.status_code == 200, response.text
    assert response.json()["node_id"] == str(node.node_id)


def test_a_signature_over_the_decoded_path_does_not_cover_the_encoded_one(
    node: ScriptedNode,
) -> None:
    response = _send(node, signed="/v1/chain-head", sent="/v1/chain%2Dhead")
    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")


def test_the_query_is_signed_raw_too(node: ScriptedNode) -> None:
    assert node.node_id is not None and node.hub_verify_key is not None
    target = "/v1/changes?after=%30&feed=2"
    response = _send(node, signed=target, sent=target)
    assert response.status_code == 200, response.text
    changes = open_changes(
        parse_envelope(response.content),
        after=0,
        node_id=node.node_id,
        hub_key=node.hub_verify_key,
        node_key=node.opening_key,
    )
    assert changes.changes  # the shipped catalog, for after=0
    response = _send(node, signed="/v1/changes?after=0&feed=2", sent="/v1/changes?after=%30&feed=2")
    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")


def _scope(**fields: object) -> dict[str, object]:
    return {"type": "http", "method": "GET", "headers": [], "query_string": b""} | fields


def test_the_target_is_the_raw_path_and_query() -> None:
    request = Request(_scope(path="/v1/x", raw_path=b"/v1/%78", query_string=b"a=%31&b=2"))
    assert _target(request) == "/v1/%78?a=%31&b=2"


def test_the_target_has_no_question_mark_without_a_query() -> None:
    assert _target(Request(_scope(path="/v1/chain-head", raw_path=b"/v1/chain-head"))) == (
        "/v1/chain-head"
    )


def test_bytes_outside_ascii_give_a_target_not_a_crash() -> None:
    # Not a valid request target, so no node signs it; it must fail verification, not 500.
    request = Request(_scope(path="/v1/é", raw_path="/v1/é".encode()))
    assert _target(request) == "/v1/Ã©"


def test_without_raw_path_the_path_is_used() -> None:
    # ASGI makes raw_path optional; uvicorn (what the hub ships with) always sends it.
    assert _target(Request(_scope(path="/v1/chain-head", query_string=b"a=1"))) == (
        "/v1/chain-head?a=1"
    )
