"""Reading transactions back for staff: by id, or by national ID through the blind index
(the national ID itself is never stored in clear, so it cannot be searched directly)."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from edge_node.events import load_event
from edge_node.pii import PiiCipher
from edge_node.store import Store
from sync_protocol import TransactionCreated

__all__ = ["find_by_national_id", "get_transaction"]

# The national ID and name are read from the opening event's encrypted body (its event id
# is the transaction id), the one place they are kept at rest.
_SELECT = (
    "SELECT t.transaction_id, t.service_code, t.fee_piasters, e.body_ct, t.status, "
    "t.recorded_at_ms, t.updated_at_ms FROM transactions t "
    "LEFT JOIN events e ON e.event_id = t.transaction_id"
)
MAX_RESULTS = 200


def _opening(pii: PiiCipher, txn: str, body_ct: bytes | None) -> TransactionCreated | None:
    if body_ct is None:  # only status events arrived so far; the opening event is in flight
        return None
    record = load_event(pii, txn, body_ct)
    return record if isinstance(record, TransactionCreated) else None


def _as_dict(pii: PiiCipher, row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    txn, service, fee, body_ct, status, recorded, updated = row
    opening = _opening(pii, txn, body_ct)
    return {
        "transaction_id": txn,
        "service_code": service,
        "fee_piasters": fee,
        "national_id": None if opening is None else opening.national_id,
        "citizen_name": None if opening is None else opening.citizen_name,
        "status": status,
        "recorded_at_ms": recorded,
        "updated_at_ms": updated,
    }


def get_transaction(
    store: Store, pii: PiiCipher, transaction_id: uuid.UUID
) -> dict[str, Any] | None:
    row = store.connection.execute(
        f"{_SELECT} WHERE t.transaction_id = ?",
        (str(transaction_id),),
    ).fetchone()
    return _as_dict(pii, row) if row else None


def find_by_national_id(store: Store, pii: PiiCipher, national_id: str) -> list[dict[str, Any]]:
    """The citizen's transactions at this center, newest first (at most 200)."""
    rows = store.connection.execute(
        f"{_SELECT} WHERE t.national_id_index = ? ORDER BY t.recorded_at_ms DESC LIMIT ?",
        (pii.blind_index(national_id.strip()), MAX_RESULTS),
    ).fetchall()
    return [_as_dict(pii, row) for row in rows]
