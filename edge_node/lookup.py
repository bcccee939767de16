"""Reading transactions back for staff: by id, or by national ID through the blind index
(the national ID itself is never stored in clear, so it cannot be searched directly)."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from edge_node.pii import PiiCipher
from edge_node.store import Store

__all__ = ["find_by_national_id", "get_transaction"]

_COLUMNS = (
    "transaction_id, service_code, fee_piasters, national_id_ct, citizen_name_ct, status, "
    "recorded_at_ms, updated_at_ms"
)
MAX_RESULTS = 200


def _decrypt(pii: PiiCipher, blob: bytes | None, column: str, row_id: str) -> str | None:
    if blob is None:  # only status events arrived so far; the opening event is in flight
        return None
    return pii.decrypt(blob, table="transactions", column=column, row_id=row_id)


def _as_dict(pii: PiiCipher, row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    txn, service, fee, nid_ct, name_ct, status, recorded, updated = row
    return {
        "transaction_id": txn,
        "service_code": service,
        "fee_piasters": fee,
        "national_id": _decrypt(pii, nid_ct, "national_id", txn),
        "citizen_name": _decrypt(pii, name_ct, "citizen_name", txn),
        "status": status,
        "recorded_at_ms": recorded,
        "updated_at_ms": updated,
    }


def get_transaction(
    store: Store, pii: PiiCipher, transaction_id: uuid.UUID
) -> dict[str, Any] | None:
    row = store.connection.execute(
        f"SELECT {_COLUMNS} FROM transactions WHERE transaction_id = ?",  # noqa: S608
        (str(transaction_id),),
    ).fetchone()
    return _as_dict(pii, row) if row else None


def find_by_national_id(store: Store, pii: PiiCipher, national_id: str) -> list[dict[str, Any]]:
    """The citizen's transactions at this center, newest first (at most 200)."""
    rows = store.connection.execute(
        f"SELECT {_COLUMNS} FROM transactions WHERE national_id_index = ? "  # noqa: S608
        "ORDER BY recorded_at_ms DESC LIMIT ?",
        (pii.blind_index(national_id.strip()), MAX_RESULTS),
    ).fetchall()
    return [_as_dict(pii, row) for row in rows]
