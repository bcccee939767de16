"""Storing events: the record's wire JSON is kept encrypted (it carries PII); a few
non-personal columns stay in clear for queries."""

from __future__ import annotations

import sqlite3

from edge_node.pii import PiiCipher
from sync_protocol import (
    Record,
    TransactionStatus,
    decode_json,
    encode_record_json,
    record_from_dict,
)

__all__ = ["insert_event", "load_event"]


def insert_event(
    connection: sqlite3.Connection,
    pii: PiiCipher,
    record: Record,
    wire: dict[str, object],
    *,
    origin: str,
) -> bool:
    """Insert ``record`` unless its event id is known; True if it was new. ``wire`` is its
    ``record_to_dict``: the stored body, and its id and stamp texts serve the columns
    (the caller builds it once for this and the projection)."""
    event_id = str(wire["event_id"])
    body = encode_record_json(wire).decode("utf-8")
    cursor = connection.execute(
        "INSERT INTO events (event_id, transaction_id, type, status, hlc, origin, "
        "recorded_at_ms, fee_piasters, body_ct) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(event_id) DO NOTHING",
        (
            event_id,
            wire["transaction_id"],
            record.type,
            record.status if isinstance(record, TransactionStatus) else None,
            wire["hlc"],
            origin,
            record.recorded_at_ms,
            getattr(record, "fee_piasters", None),
            pii.encrypt(body, table="events", column="body", row_id=event_id),
        ),
    )
    return cursor.rowcount == 1


def load_event(pii: PiiCipher, event_id: str, body_ct: bytes) -> Record:
    body = pii.decrypt(body_ct, table="events", column="body", row_id=event_id)
    return record_from_dict(decode_json(body.encode("utf-8")))
