"""The current state of a transaction as a pure function of its set of events.

Edge and hub each hold some subset of a transaction's events; both compute the state with
:func:`derive_state`, so once they hold the same set they show the same answer, whatever
order the events arrived in and however often each arrived.

The winning status event is the one with the highest ``(precedence, hlc, node id,
event id)``. Precedence encodes the workflow's one-way doors: a rejection overrides an
approval made concurrently elsewhere, a cancellation overrides both, and delivery to the
citizen is final. Within a precedence level the later HLC wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from sync_protocol.payload import encode_json
from sync_protocol.records import Record, TransactionCreated, TransactionStatus, record_to_dict

__all__ = ["STATUS_PRECEDENCE", "TransactionState", "derive_state", "merge_events"]

State = Literal["unknown", "created", "in_review", "approved", "rejected", "cancelled", "delivered"]

STATUS_PRECEDENCE: Final[dict[str, int]] = {
    "created": 0,
    "in_review": 1,
    "approved": 2,
    "rejected": 3,
    "cancelled": 4,
    "delivered": 5,
}


@dataclass(frozen=True, slots=True)
class TransactionState:
    """What a transaction looks like given the events known so far.

    ``created`` is ``None`` while only status events have arrived (the opening event is
    still in flight). ``history`` is every event in causal (HLC) order.
    """

    transaction_id: uuid.UUID
    status: State
    created: TransactionCreated | None
    deciding_event: Record | None
    history: tuple[Record, ...]


def _canonical_key(record: Record) -> bytes:
    # Two different records with one event id should never exist; if they do, picking the
    # smaller canonical JSON keeps the result independent of arrival order, portably.
    return encode_json(record_to_dict(record))


def merge_events(*sets: Iterable[Record]) -> dict[uuid.UUID, Record]:
    """Set union on event id: idempotent, commutative and associative."""
    merged: dict[uuid.UUID, Record] = {}
    for events in sets:
        for record in events:
            held = merged.get(record.event_id)
            if held is None or (held != record and _canonical_key(record) < _canonical_key(held)):
                merged[record.event_id] = record
    return merged


def _precedence_key(record: Record) -> tuple[int, int, int, uuid.UUID, uuid.UUID]:
    status = record.status if isinstance(record, TransactionStatus) else "created"
    stamp = record.hlc
    return (STATUS_PRECEDENCE[status], stamp.wall_ms, stamp.counter, stamp.node_id, record.event_id)


def derive_state(transaction_id: uuid.UUID, events: Iterable[Record]) -> TransactionState:
    """Compute the state of ``transaction_id`` from any collection of events.

    Events of other transactions are ignored, duplicates count once. With no events at all
    the status is ``"unknown"``.
    """
    mine = [
        record
        for record in merge_events(events).values()
        if record.transaction_id == transaction_id
    ]
    history = tuple(sorted(mine, key=lambda r: (r.hlc, r.event_id)))
    created = next((r for r in history if isinstance(r, TransactionCreated)), None)
    deciding = max(mine, key=_precedence_key, default=None)
    status: State
    if isinstance(deciding, TransactionStatus):
        status = deciding.status
    else:
        status = "created" if deciding else "unknown"
    return TransactionState(
        transaction_id=transaction_id,
        status=status,
        created=created,
        deciding_event=deciding,
        history=history,
    )
