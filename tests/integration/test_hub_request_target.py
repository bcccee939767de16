"""A real ``central-hub serve`` (uvicorn on 127.0.0.1): the signature covers the request
target as it travels on the wire, percent-encoding included, and the edge node's HTTP
client (``edge_node.transport``) still interoperates: its signed requests verify."""

from __future__ import annotations

import secrets
import time

import httpx

from edge_node.transport import HttpTransport
from sync_protocol import open_changes, parse_envelope
from sync_protocol.request_auth import sign_request
from tests.hub.nodes import ScriptedNode


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _get(node: ScriptedNode, *, signed: str, sent: str) -> httpx.Response:
    assert node.node_id is not None
    headers = sign_request(
        "GET",
        signed,
        b"",
        node_id=node.node_id,
        key=node.signing_key,
        time_ms=_now_ms(),
        nonce=secrets.token_hex(16),
    )
    return node.http.get(sent, headers=headers)


def test_the_signed_target_is_the_one_on_the_wire(hub_factory) -> None:  # type: ignore[no-untyped-def]
    hub = hub_factory()
    hub.init()
    token = hub.provision("arish", "مركز خدمات مصر بالعريش")
    hub.start()
    with httpx.Client(base_url=hub.url, timeout=30) as http:
        node = ScriptedNode(http)
        assert node.enroll(token).status_code == 200

        assert _get(node, signed="/v1/chain%2Dhead", sent="/v1/chain%2Dhead").status_code == 200
        refused = _get(node, signed="/v1/chain-head", sent="/v1/chain%2Dhead")
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_signature")
        target = "/v1/changes?after=%30&feed=2"
        assert _get(node, signed=target, sent=target).is_success

        # Problem bodies and the hub time header reach a real client for unknown routes too.
        missing = http.get("/v1/nowhere")
        assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
        assert missing.headers["x-egsync-time"].isdigit()


def test_the_edge_transport_signs_what_the_hub_verifies(hub_factory) -> None:  # type: ignore[no-untyped-def]
    hub = hub_factory()
    hub.init()
    token = hub.provision("aswan", "مركز خدمات مصر بأسوان")
    hub.start()
    with httpx.Client(base_url=hub.url, timeout=30) as http:
        node = ScriptedNode(http)
        assert node.enroll(token).status_code == 200
    assert node.node_id is not None and node.hub_verify_key is not None

    transport = HttpTransport(hub.url, node_id=node.node_id, signing_key=node.signing_key)
    try:
        assert transport.chain_head()["seq"] == 0
        changes = open_changes(
            parse_envelope(transport.changes(0)),
            after=0,
            node_id=node.node_id,
            hub_key=node.hub_verify_key,
            node_key=node.opening_key,
        )
        assert changes.changes
        transport.heartbeat(
            {
                "pending_events": 0,
                "unsent_batches": 0,
                "oldest_pending_age_s": 0,
                "unsynced_fee_piasters": 0,
                "clock_offset_ms": transport.clock_offset_ms,
                "software_version": "test",
                "disk_free_bytes": 10**9,
            }
        )
    finally:
        transport.close()
