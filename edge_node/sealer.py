"""Sealing: pending outbox events become batches of the node's hash chain.

A batch's exact bytes, seq and prev_hash are stored in the same transaction that takes
its events out of the outbox, before anything is sent; every retry sends those bytes, so
the hub sees one batch however often the link drops."""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from edge_node.errors import SyncHalted
from edge_node.faults import crash_point
from edge_node.pii import PiiCipher
from edge_node.store import Store
from sync_protocol import (
    GENESIS_HASH,
    EnvelopeKind,
    SealingKey,
    SigningKey,
    parse_envelope,
    seal_envelope,
)
from sync_protocol.payload import MAX_RECORDS

__all__ = [
    "DEFAULT_BATCH_RECORDS",
    "SealerConfig",
    "full_batch_pending",
    "halt_reason",
    "seal_pending",
]

HALT_KEY = "sealing_halted"
DEFAULT_BATCH_RECORDS = 5000  # records a batch holds at most (decision D27)


@dataclass(frozen=True, slots=True)
class SealerConfig:
    """Batch budget: a batch closes at whichever bound it reaches first. Smaller batches
    lose less work to a dropped link; larger ones cost the hub less per record (its work
    per request is ~5 ms whatever the size, decision D27)."""

    max_records: int = DEFAULT_BATCH_RECORDS
    max_record_bytes: int = 2 * 1024 * 1024  # of record JSON, before compression

    def __post_init__(self) -> None:
        # A batch over the protocol's bound could never be stored, and sealed bytes are final.
        if not 1 <= self.max_records <= MAX_RECORDS:
            raise ValueError(f"max_records must be between 1 and {MAX_RECORDS}")
        if self.max_record_bytes < 1:
            raise ValueError("max_record_bytes must be at least 1")


def halt_reason(store: Store) -> str | None:
    return store.get_state(HALT_KEY)


def seal_pending(
    store: Store,
    *,
    node_id: uuid.UUID,
    signing_key: SigningKey,
    hub_key: SealingKey,
    pii: PiiCipher,
    now_ms: int,
    config: SealerConfig = SealerConfig(),
    max_batches: int | None = None,
    full_only: bool = False,
) -> list[int]:
    """Seal pending events into batches of at most ``config.max_records`` (every pending
    event, or ``max_batches`` batches; with ``full_only``, only batches that reach one of
    ``config``'s bounds, leaving a partial one pending); return the new seqs. Refuses
    while sealing is halted (fork or restore detected).

    The payload is the events' stored canonical JSON, joined into the canonical array
    (``encode_records`` of the same records, byte for byte): each record was validated
    when it was captured and its stored JSON is authenticated by the PII AEAD, so parsing
    and re-validating it here would only repeat that work (and the hub validates every
    record again when it opens the batch)."""
    sealed: list[int] = []
    while max_batches is None or len(sealed) < max_batches:
        with store.write() as connection:
            reason = connection.execute(
                "SELECT value FROM state WHERE key = ?", (HALT_KEY,)
            ).fetchone()
            if reason:
                raise SyncHalted(
                    f"sealing is halted: {reason[0]}",
                    hint="records are kept locally; central IT must resolve the chain",
                )
            if full_only and not full_batch_pending(connection, config):
                return sealed
            rows = connection.execute(
                "SELECT o.position, e.event_id, e.body_ct, e.type, e.fee_piasters FROM outbox o "
                "JOIN events e USING (event_id) ORDER BY o.position LIMIT ?",
                (config.max_records,),
            ).fetchall()
            if not rows:
                return sealed
            rows = _within_budget(rows, config.max_record_bytes)
            payload = b"[" + b",".join(_stored_json(pii, row[1], row[2]) for row in rows) + b"]"
            head = connection.execute(
                "SELECT seq, batch_hash FROM batches ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
            envelope = seal_envelope(
                kind=EnvelopeKind.BATCH,
                node_id=node_id,
                seq=seq,
                prev_hash=prev_hash,
                record_count=len(rows),
                created_at_ms=now_ms,
                payload=payload,
                signing_key=signing_key,
                recipient=hub_key,
            )
            fees = sum(row[4] for row in rows if row[3] == "transaction.created")
            connection.execute(
                "INSERT INTO batches (seq, prev_hash, batch_hash, envelope, record_count, "
                "fee_piasters, sealed_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    prev_hash,
                    parse_envelope(envelope).batch_hash,
                    envelope,
                    len(rows),
                    fees,
                    now_ms,
                ),
            )
            last_position = rows[-1][0]
            connection.execute(
                "UPDATE events SET batch_seq = ? WHERE event_id IN "
                "(SELECT event_id FROM outbox WHERE position <= ?)",
                (seq, last_position),
            )
            connection.execute("DELETE FROM outbox WHERE position <= ?", (last_position,))
            crash_point("seal-before-commit")
        crash_point("seal-after-commit")
        sealed.append(seq)
    return sealed


def _stored_json(pii: PiiCipher, event_id: str, body_ct: bytes) -> bytes:
    """The record's canonical JSON as ``insert_event`` stored it (``encode_json`` of
    ``record_to_dict``), decrypted."""
    return pii.decrypt(body_ct, table="events", column="body", row_id=event_id).encode("utf-8")


def full_batch_pending(connection: sqlite3.Connection, config: SealerConfig) -> bool:
    """Whether the pending events reach one of ``config``'s bounds (a read: no write lock).
    SQLite's ``length`` of a blob reads its size, not its bytes: no record is loaded."""
    count, size = connection.execute(
        "SELECT count(*), coalesce(sum(length(e.body_ct)), 0) FROM "
        "(SELECT event_id FROM outbox ORDER BY position LIMIT ?) JOIN events e USING (event_id)",
        (config.max_records,),
    ).fetchone()
    return bool(count >= config.max_records or size >= config.max_record_bytes)


def _within_budget(rows: list[tuple[Any, ...]], max_bytes: int) -> list[tuple[Any, ...]]:
    """The longest prefix of ``rows`` whose records fit ``max_bytes`` (at least one row).
    The stored ciphertext is the record's JSON plus a fixed AEAD overhead, close enough."""
    total = 0
    for index, row in enumerate(rows):
        total += len(row[2])
        if total > max_bytes and index:
            return rows[:index]
    return rows
