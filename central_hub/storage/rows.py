"""Rows the hub writes for events and the per-transaction projection, and the upsert that
merges a projection row into the stored one (the higher precedence key wins)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func

from central_hub.storage import schema as t
from sync_protocol import Record, TransactionCreated, encode_json, record_to_dict
from sync_protocol.state import STATUS_PRECEDENCE

__all__ = ["batch_event_rows", "event_row", "fold_projection", "projection_upsert", "status_key"]

# Where the node id starts in an encoded HLC stamp (``HlcStamp.encode``: 18-digit wall
# time, dash, 5-digit counter, dash, node id).
_HLC_NODE_AT = 25


def status_key(status: str, hlc: str, event_id: str) -> str:
    return f"{STATUS_PRECEDENCE[status]}|{hlc}|{event_id}"


def event_row(
    record: Record,
    now_ms: int,
    *,
    batch_node_id: str | None,
    batch_seq: int | None,
    body: str | None = None,
) -> dict[str, Any]:
    """The ``events`` row of ``record``. ``body`` is its canonical JSON if the caller has
    it (a batch's payload holds it, see ``open_batch_with_bodies``); else it is encoded
    here (hub-made events, one at a time)."""
    event_id = str(record.event_id)
    transaction_id = (
        event_id if record.transaction_id is record.event_id else str(record.transaction_id)
    )
    hlc = record.hlc.encode()
    if body is None:
        body = encode_json(record_to_dict(record)).decode("utf-8")
    return {
        "event_id": event_id,
        "transaction_id": transaction_id,
        "center_id": record.center_id,
        "type": record.type,
        "hlc": hlc,
        "origin_node_id": hlc[_HLC_NODE_AT:],  # the stamp ends with its node id
        "batch_node_id": batch_node_id,
        "batch_seq": batch_seq,
        "body": body,
        "received_at_ms": now_ms,
    }


def batch_event_rows(
    records: Sequence[Record],
    bodies: Sequence[str] | None,
    *,
    node_id: str,
    seq: int,
    now_ms: int,
) -> list[dict[str, Any]]:
    """The ``events`` rows of batch ``seq`` of ``node_id``; ``bodies`` as for
    :func:`event_row`, one per record in the same order, or None to encode them here."""
    if bodies is None:
        return [event_row(r, now_ms, batch_node_id=node_id, batch_seq=seq) for r in records]
    return [
        event_row(r, now_ms, batch_node_id=node_id, batch_seq=seq, body=body)
        for r, body in zip(records, bodies, strict=True)
    ]


def fold_projection(
    events: Iterable[tuple[Record, dict[str, Any]]], now_ms: int
) -> dict[str, dict[str, Any]]:
    """The ``transactions`` rows for ``events`` (each record with its :func:`event_row`),
    by transaction id: the highest precedence key wins, so arrival order does not matter."""
    folded: dict[str, dict[str, Any]] = {}
    for record, event in events:
        txn = event["transaction_id"]
        row = folded.get(txn)
        if row is None:
            row = folded[txn] = {
                "transaction_id": txn,
                "center_id": record.center_id,
                "service_code": None,
                "fee_piasters": None,
                "recorded_at_ms": None,
                "status": "created",
                "status_key": "",
                "updated_at_ms": now_ms,
            }
        if isinstance(record, TransactionCreated):
            row["service_code"] = record.service_code
            row["fee_piasters"] = record.fee_piasters
            row["recorded_at_ms"] = record.recorded_at_ms
            status = "created"
        else:
            status = record.status
        key = status_key(status, event["hlc"], event["event_id"])
        if key > row["status_key"]:
            row["status_key"] = key
            row["status"] = status
    return folded


def projection_upsert(statement: Any, *, postgres: bool) -> Any:
    """``statement`` (an INSERT into ``transactions``) merged into the stored rows: the
    higher precedence key wins, compared in the database."""
    new, old = statement.excluded, t.transactions.c
    new_key: ColumnElement[str]
    old_key: ColumnElement[str]
    if postgres:
        # Keys must compare as Python compares them (code points), whatever the
        # database's collation.
        new_key, old_key = new.status_key.collate("C"), old.status_key.collate("C")
        higher = func.greatest(new_key, old_key)
    else:
        new_key, old_key = new.status_key, old.status_key  # BINARY: code points
        higher = func.max(new_key, old_key)
    return statement.on_conflict_do_update(
        index_elements=["transaction_id"],
        set_={
            # Only a transaction.created sets these (never NULL there), and its
            # transaction id is its event id, so at most one event ever does.
            "service_code": func.coalesce(new.service_code, old.service_code),
            "fee_piasters": func.coalesce(new.fee_piasters, old.fee_piasters),
            "recorded_at_ms": func.coalesce(new.recorded_at_ms, old.recorded_at_ms),
            "status": case((new_key > old_key, new.status), else_=old.status),
            "status_key": higher,
            "updated_at_ms": new.updated_at_ms,
        },
    )
