"""Rows the hub writes for events and the per-transaction projection, and the upsert that
merges a projection row into the stored one (the higher precedence key wins)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func

from central_hub.storage import schema as t
from sync_protocol import Record, encode_json, record_to_dict
from sync_protocol.hlc import stamp_node_text
from sync_protocol.records import CREATED
from sync_protocol.state import STATUS_PRECEDENCE

__all__ = [
    "batch_event_rows",
    "event_row",
    "fold_projection",
    "projection_upsert",
    "status_key",
    "wire_form",
]


def status_key(status: str, hlc: str, event_id: str) -> str:
    return f"{STATUS_PRECEDENCE[status]}|{hlc}|{event_id}"


def wire_form(record: Record) -> tuple[dict[str, Any], str]:
    """``record``'s wire dict and its canonical JSON: what a batch's payload holds for it
    (for events the hub makes, and for callers that hold records)."""
    wire = record_to_dict(record)
    return wire, encode_json(wire).decode("utf-8")


def event_row(
    wire: Mapping[str, Any],
    body: str,
    now_ms: int,
    *,
    batch_node_id: str | None,
    batch_seq: int | None,
) -> dict[str, Any]:
    """The ``events`` row of a record in its validated wire form (``decode_wire_with_bodies``
    or :func:`wire_form`); ``body`` is its canonical JSON. The ids and the stamp are
    canonical text there already: nothing is rendered again."""
    hlc = wire["hlc"]
    return {
        "event_id": wire["event_id"],
        "transaction_id": wire["transaction_id"],
        "center_id": wire["center_id"],
        "type": wire["type"],
        "hlc": hlc,
        "origin_node_id": stamp_node_text(hlc),
        "batch_node_id": batch_node_id,
        "batch_seq": batch_seq,
        "body": body,
        "received_at_ms": now_ms,
    }


def batch_event_rows(
    wire: Sequence[Mapping[str, Any]],
    bodies: Sequence[str],
    *,
    node_id: str,
    seq: int,
    now_ms: int,
) -> list[dict[str, Any]]:
    """The ``events`` rows of batch ``seq`` of ``node_id``: one per record, in order."""
    return [
        event_row(item, body, now_ms, batch_node_id=node_id, batch_seq=seq)
        for item, body in zip(wire, bodies, strict=True)
    ]


def fold_projection(
    events: Iterable[tuple[Mapping[str, Any], dict[str, Any]]], now_ms: int
) -> dict[str, dict[str, Any]]:
    """The ``transactions`` rows for ``events`` (each record's wire form with its
    :func:`event_row`), by transaction id: the highest precedence key wins, so arrival
    order does not matter."""
    folded: dict[str, dict[str, Any]] = {}
    for wire, event in events:
        txn = event["transaction_id"]
        row = folded.get(txn)
        if row is None:
            row = folded[txn] = {
                "transaction_id": txn,
                "center_id": wire["center_id"],
                "service_code": None,
                "fee_piasters": None,
                "recorded_at_ms": None,
                "status": "created",
                "status_key": "",
                "updated_at_ms": now_ms,
            }
        if wire["type"] == CREATED:
            row["service_code"] = wire["service_code"]
            row["fee_piasters"] = wire["fee_piasters"]
            row["recorded_at_ms"] = wire["recorded_at_ms"]
            status = "created"
        else:
            status = wire["status"]
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
