"""Central IT's view of the fleet: per center and node, its chain state, last contact and
the backlog it last reported. A node that has gone quiet is itself a finding: remote
centers lose their links for days, and that is exactly what the view must show."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Engine, func, select

from central_hub.storage import schema as t

__all__ = ["SILENT_AFTER_MS", "STALE_BACKLOG_S", "fleet_status"]

SILENT_AFTER_MS: Final = 60 * 60 * 1000  # no heartbeat for an hour
STALE_BACKLOG_S: Final = 6 * 60 * 60  # records waiting at the center for six hours


def _health(row: dict[str, Any], now_ms: int) -> str:
    if row["node_status"] is None:
        return "not enrolled"
    if row["node_status"] in ("forked", "revoked"):
        return str(row["node_status"])
    if row["heartbeat_at_ms"] is None or now_ms - row["heartbeat_at_ms"] > SILENT_AFTER_MS:
        return "silent"
    if (row["oldest_pending_age_s"] or 0) > STALE_BACKLOG_S:
        return "backlog"
    return "ok"


def fleet_status(engine: Engine, now_ms: int) -> list[dict[str, Any]]:
    """One row per (center, node), centers without a node included; worst first."""
    last_batch = (
        select(
            t.batches.c.node_id,
            func.max(t.batches.c.received_at_ms).label("last_batch_at_ms"),
        )
        .group_by(t.batches.c.node_id)
        .subquery()
    )
    query = (
        select(
            t.centers.c.center_id,
            t.centers.c.name.label("center_name"),
            t.nodes.c.node_id,
            t.nodes.c.status.label("node_status"),
            t.nodes.c.head_seq,
            last_batch.c.last_batch_at_ms,
            t.heartbeats.c.received_at_ms.label("heartbeat_at_ms"),
            t.heartbeats.c.pending_events,
            t.heartbeats.c.unsent_batches,
            t.heartbeats.c.oldest_pending_age_s,
            t.heartbeats.c.unsynced_fee_piasters,
            t.heartbeats.c.clock_offset_ms,
            t.heartbeats.c.software_version,
            t.heartbeats.c.disk_free_bytes,
        )
        .select_from(t.centers)
        .outerjoin(t.nodes, t.nodes.c.center_id == t.centers.c.center_id)
        .outerjoin(t.heartbeats, t.heartbeats.c.node_id == t.nodes.c.node_id)
        .outerjoin(last_batch, last_batch.c.node_id == t.nodes.c.node_id)
        .order_by(t.centers.c.center_id, t.nodes.c.enrolled_at_ms)
    )
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    order = {"forked": 0, "silent": 1, "backlog": 2, "not enrolled": 3, "ok": 4, "revoked": 5}
    for row in rows:
        row["health"] = _health(row, now_ms)
        row["heartbeat_age_s"] = (
            None if row["heartbeat_at_ms"] is None else (now_ms - row["heartbeat_at_ms"]) // 1000
        )
    return sorted(rows, key=lambda row: (order[row["health"]], row["center_id"]))
