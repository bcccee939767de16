"""The per-transaction projection staff see: the latest state of each transaction, folded
from its events with the protocol's precedence rule (so arrival order never matters)."""

from __future__ import annotations

import sqlite3

from edge_node.pii import PiiCipher
from sync_protocol import Record, TransactionCreated, TransactionStatus
from sync_protocol.state import STATUS_PRECEDENCE

__all__ = ["apply_to_projection", "status_key"]


def status_key(record: Record, wire: dict[str, object]) -> str:
    """The precedence key of ``record`` (``wire`` its ``record_to_dict``): precedence of
    its status, then its stamp, then its event id; the higher key's status wins."""
    status = record.status if isinstance(record, TransactionStatus) else "created"
    return f"{STATUS_PRECEDENCE[status]}|{wire['hlc']}|{wire['event_id']}"


# One statement per event: at capture this runs inside every staff write, and each
# statement costs more than the work it does. The status moves only to a higher
# precedence key, so the order events arrive in never matters.
_UPSERT_STATUS = """
    INSERT INTO transactions (transaction_id, status, status_key, updated_at_ms)
    VALUES (:txn, :status, :key, :now)
    ON CONFLICT(transaction_id) DO UPDATE SET
        status = CASE WHEN excluded.status_key > status_key
                      THEN excluded.status ELSE status END,
        updated_at_ms = CASE WHEN excluded.status_key > status_key
                             THEN excluded.updated_at_ms ELSE updated_at_ms END,
        status_key = max(status_key, excluded.status_key)
"""

_UPSERT_CREATED = """
    INSERT INTO transactions (transaction_id, status, status_key, updated_at_ms,
        service_code, fee_piasters, national_id_index, recorded_at_ms)
    VALUES (:txn, :status, :key, :now, :service, :fee, :nid_index, :recorded)
    ON CONFLICT(transaction_id) DO UPDATE SET
        service_code = excluded.service_code,
        fee_piasters = excluded.fee_piasters,
        national_id_index = excluded.national_id_index,
        recorded_at_ms = excluded.recorded_at_ms,
        status = CASE WHEN excluded.status_key > status_key
                      THEN excluded.status ELSE status END,
        updated_at_ms = CASE WHEN excluded.status_key > status_key
                             THEN excluded.updated_at_ms ELSE updated_at_ms END,
        status_key = max(status_key, excluded.status_key)
"""


def apply_to_projection(
    connection: sqlite3.Connection,
    pii: PiiCipher,
    record: Record,
    wire: dict[str, object],
    now_ms: int,
) -> None:
    """Fold ``record`` (``wire`` its ``record_to_dict``) into ``transactions`` inside the
    caller's transaction."""
    txn = str(wire["transaction_id"])
    key = status_key(record, wire)
    if not isinstance(record, TransactionCreated):
        params = {"txn": txn, "status": record.status, "key": key, "now": now_ms}
        connection.execute(_UPSERT_STATUS, params)
        return
    params = {
        "txn": txn,
        "status": "created",
        "key": key,
        "now": now_ms,
        "service": record.service_code,
        "fee": record.fee_piasters,
        "nid_index": pii.blind_index(record.national_id),
        "recorded": record.recorded_at_ms,
    }
    connection.execute(_UPSERT_CREATED, params)
