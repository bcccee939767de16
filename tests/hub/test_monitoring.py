"""Central IT's fleet view: health per center from chain state, heartbeats and silence."""

from __future__ import annotations

from fastapi.testclient import TestClient

from central_hub.enrollment import provision_center
from central_hub.monitoring import SILENT_AFTER_MS, STALE_BACKLOG_S, fleet_status
from tests.hub.inprocess import hub_store
from tests.hub.nodes import T0_MS, ScriptedNode


def _node(client: TestClient, center: str) -> ScriptedNode:
    node = ScriptedNode(client)
    token = provision_center(hub_store(client), center, center, now_ms=T0_MS, ttl_hours=1).token
    assert node.enroll(token).status_code == 200
    return node


def _heartbeat(node: ScriptedNode, *, oldest_s: int, chain_state: str = "ok") -> None:
    report = {
        "pending_events": 40,
        "unsent_batches": 2,
        "oldest_pending_age_s": oldest_s,
        "unsynced_fee_piasters": 12_500,
        "clock_offset_ms": 0,
        "software_version": "0.1.0",
        "disk_free_bytes": 10**10,
        "chain_state": chain_state,
    }
    answer = node.signed("POST", "/v1/heartbeat", json_body=report, time_ms=T0_MS)
    assert answer.status_code == 200, answer.text


def test_each_center_gets_a_health_worst_first(client: TestClient) -> None:
    _heartbeat(_node(client, "aswan"), oldest_s=60)
    _heartbeat(_node(client, "arish"), oldest_s=STALE_BACKLOG_S + 1)
    _heartbeat(_node(client, "sharm"), oldest_s=0, chain_state="restored")
    _node(client, "tanta")  # enrolled, never heard from
    provision_center(hub_store(client), "giza", "giza", now_ms=T0_MS, ttl_hours=1)

    rows = fleet_status(hub_store(client).engine, T0_MS + 1000)
    health = {row["center_id"]: row["health"] for row in rows}
    assert health == {
        "sharm": "forked",
        "tanta": "silent",
        "arish": "backlog",
        "giza": "not enrolled",
        "aswan": "ok",
    }
    assert [row["center_id"] for row in rows][:2] == ["sharm", "tanta"]
    aswan = next(row for row in rows if row["center_id"] == "aswan")
    assert (aswan["pending_events"], aswan["unsynced_fee_piasters"]) == (40, 12_500)

    later = fleet_status(hub_store(client).engine, T0_MS + SILENT_AFTER_MS + 1)
    assert {r["center_id"]: r["health"] for r in later}["aswan"] == "silent"
