"""Rows the hub writes for events and for the per-transaction projection (the summary's
rows are made in ``lanes``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from central_hub.storage.lanes import lane_rows, transaction_values
from sync_protocol import Record, encode_json, record_to_dict
from sync_protocol.hlc import stamp_node_text
from sync_protocol.records import CREATED
from sync_protocol.state import Summary

__all__ = [
    "batch_event_rows",
    "event_row",
    "group_by_transaction",
    "opening_fee",
    "opening_rows",
    "projection_rows",
    "wire_form",
]


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


def group_by_transaction(wire: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Records (wire forms) by transaction id, each list in the records' order."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for item in wire:
        grouped.setdefault(item["transaction_id"], []).append(item)
    return grouped


def projection_rows(
    transaction_id: str,
    center_id: str,
    summary: Summary,
    *,
    fee_piasters: int | None,
    owner: str | None,
    now_ms: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``transactions`` row and ``approvals`` rows of a transaction whose events fold
    to ``summary`` (``owner``: its service's owning agency, see ``lanes``)."""
    values = transaction_values(summary, owner)
    row = {
        "transaction_id": transaction_id,
        "center_id": center_id,
        "fee_piasters": fee_piasters,
        "updated_at_ms": now_ms,
        **values,
    }
    return row, lane_rows(transaction_id, center_id, summary, owner, values["status"])


def opening_rows(
    wire: Mapping[str, Any], now_ms: int
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """:func:`projection_rows` of a transaction whose only event is ``wire``, its
    ``transaction.created`` of this release (listing its agencies), made directly: most of
    a backlog is such openings, and the general fold costs several times more. None for
    the previous release's form (its owner decides: the general way)."""
    agencies = wire.get("required_agencies")
    if agencies is None:
        return None
    txn, center, hlc = wire["transaction_id"], wire["center_id"], wire["hlc"]
    recorded, service = wire["recorded_at_ms"], wire["service_code"]
    row = {
        "transaction_id": txn,
        "center_id": center,
        "fee_piasters": wire["fee_piasters"],
        "updated_at_ms": now_ms,
        "service_code": service,
        "recorded_at_ms": recorded,
        "required_agencies": ",".join(agencies),
        "status": "in_review" if agencies else "created",
        "status_key": f"0|{hlc}|{wire['event_id']}",
        "latest_hlc": hlc,
    }
    lanes = [
        {
            "transaction_id": txn,
            "agency_code": agency,
            "center_id": center,
            "service_code": service,
            "required": True,
            "state": "pending",
            "lane_key": "",
            "outcome": "",
            "at_ms": None,
            "requested_at_ms": recorded,
            "queue_since_ms": recorded,  # in every required agency's queue at once
            "decided_at_ms": None,
            "decision_ms": None,
        }
        for agency in agencies
    ]
    return row, lanes


def opening_fee(events: Iterable[Mapping[str, Any]]) -> int | None:
    """The fee of the transaction.created among ``events``, if there is one."""
    for item in events:
        if item["type"] == CREATED:
            fee: int = item["fee_piasters"]
            return fee
    return None
