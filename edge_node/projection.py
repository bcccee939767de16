"""The per-transaction projection staff see: the latest state of each transaction, folded
from its events with the protocol's precedence rule (so arrival order never matters)."""

from __future__ import annotations

import sqlite3

from edge_node.pii import PiiCipher
from sync_protocol import Record, TransactionCreated, TransactionStatus
from sync_protocol.state import STATUS_PRECEDENCE

__all__ = ["apply_to_projection", "status_key"]


def status_key(record: Record) -> str:
    status = record.status if isinstance(record, TransactionStatus) else "created"
    return f"{STATUS_PRECEDENCE[status]}|{record.hlc.encode()}|{record.event_id}"


def apply_to_projection(
    connection: sqlite3.Connection, pii: PiiCipher, record: Record, now_ms: int
) -> None:
    """Fold ``record`` into ``transactions`` inside the caller's transaction."""
    txn = str(record.transaction_id)
    connection.execute(
        "INSERT INTO transactions (transaction_id, status, status_key, updated_at_ms) "
        "VALUES (?, 'created', '', ?) ON CONFLICT(transaction_id) DO NOTHING",
        (txn, now_ms),
    )
    if isinstance(record, TransactionCreated):
        connection.execute(
            "UPDATE transactions SET service_code = ?, fee_piasters = ?, national_id_ct = ?, "
            "citizen_name_ct = ?, national_id_index = ?, recorded_at_ms = ? "
            "WHERE transaction_id = ?",
            (
                record.service_code,
                record.fee_piasters,
                pii.encrypt(
                    record.national_id, table="transactions", column="national_id", row_id=txn
                ),
                pii.encrypt(
                    record.citizen_name, table="transactions", column="citizen_name", row_id=txn
                ),
                pii.blind_index(record.national_id),
                record.recorded_at_ms,
                txn,
            ),
        )
    state = record.status if isinstance(record, TransactionStatus) else "created"
    connection.execute(
        "UPDATE transactions SET status = ?, status_key = ?, updated_at_ms = ? "
        "WHERE transaction_id = ? AND status_key < ?",
        (state, status_key(record), now_ms, txn, status_key(record)),
    )
