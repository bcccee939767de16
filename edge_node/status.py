"""What ``edge-node status`` reports: the backlog, fees not yet at the hub, the last sync
and error, whether sealing is halted, where the center's transactions wait in the
one-stop workflow, and (optionally) whether the hub answers now."""

from __future__ import annotations

from typing import Any

import httpx

from edge_node.lookup import open_information_requests
from edge_node.node import EdgeNode
from edge_node.sealer import halt_reason
from edge_node.sync import heartbeat_report

__all__ = ["hub_reachable", "node_status"]


def hub_reachable(hub_url: str, *, timeout_seconds: float = 3.0) -> bool:
    """True if the hub answers ``/livez`` within the timeout (no credentials sent)."""
    try:
        response = httpx.get(f"{hub_url.rstrip('/')}/livez", timeout=timeout_seconds)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def node_status(node: EdgeNode, *, probe_hub: bool) -> dict[str, Any]:
    now = node.now_ms()
    report = heartbeat_report(
        node.store, now_ms=now, clock_offset_ms=node.clock_offset_ms, data_dir=str(node.data_dir)
    )
    store = node.store
    recorded, delivered = store.connection.execute(
        "SELECT count(*), count(b.acked_at_ms) FROM events e "
        "LEFT JOIN batches b ON b.seq = e.batch_seq WHERE e.origin = 'local' "
        "AND e.type = 'transaction.created'"
    ).fetchone()
    last_ok = store.get_state("last_sync_ok_ms")
    # One pass over the projection: no index on status (capture would write it too).
    in_review, approved = store.connection.execute(
        "SELECT count(*) FILTER (WHERE status = 'in_review'), "
        "count(*) FILTER (WHERE status = 'approved') FROM transactions"
    ).fetchone()
    awaiting_center = len({r["transaction_id"] for r in _open_requests(node)})
    return {
        "node_id": str(node.identity.node_id),
        "center_id": node.identity.center_id,
        "center_name": node.identity.center_name,
        "hub_url": node.identity.hub_url,
        "transactions_recorded": recorded,
        "transactions_delivered": delivered,
        "pending_events": report["pending_events"],
        "unsent_batches": report["unsent_batches"],
        "oldest_pending_age_s": report["oldest_pending_age_s"],
        "unsynced_fee_piasters": report["unsynced_fee_piasters"],
        "last_sync_ok_ms": int(last_ok) if last_ok else None,
        "last_sync_ok_age_s": (now - int(last_ok)) // 1000 if last_ok else None,
        "last_error": store.get_state("last_error"),
        "last_error_code": store.get_state("last_error_code"),
        "awaiting_agencies": in_review - awaiting_center,
        "awaiting_center_answer": awaiting_center,
        "approved_not_delivered": approved,
        "sealing_halted": halt_reason(store),
        "clock_offset_ms": node.clock_offset_ms,
        "hub_reachable": hub_reachable(node.identity.hub_url) if probe_hub else None,
    }


def _open_requests(node: EdgeNode) -> list[dict[str, Any]]:
    """Every open information request, nothing decrypted (they are few: each waits for
    this center's answer)."""
    return open_information_requests(node.store, None, limit=None)
