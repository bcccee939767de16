"""Storing one batch: its events, the projection, the chain head and the receipt in one
transaction, with everything that can be computed before it prepared outside it.

A batch is prepared while its predecessor commits (the hub holds pipelined batches, see
``central_hub.ingest``), so the transaction itself is mostly statements: the event rows,
the lock order and the projection rows of the transactions the batch opens are ready
before it starts. Transactions the hub holds already are locked, folded and written back
inside (``central_hub.storage.projection``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, update
from sqlalchemy.exc import OperationalError

from central_hub.storage import schema as t
from central_hub.storage.bulk import CopyFailed, NewRowsCopy, RowsInsert
from central_hub.storage.interface import BatchOutcome, ChainMoved
from central_hub.storage.projection import OwnerOf, ProjectionWriter, transaction_rows
from central_hub.storage.rows import batch_event_rows, group_by_transaction
from sync_protocol.records import CREATED

__all__ = ["BatchWriter", "PreparedBatch"]

# PostgreSQL deadlock_detected and serialization_failure: the transaction was rolled
# back whole and may simply be tried again.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_UNIQUE_VIOLATION = "23505"
# Times a batch is stored again after a unique violation, looking up first each time.
_CAREFUL_RETRIES = 4


@dataclass(slots=True)
class PreparedBatch:
    """What :meth:`BatchWriter.prepare` works out before the transaction."""

    node_id: str
    seq: int
    now_ms: int
    wire: Sequence[Mapping[str, Any]]  # the records, validated, in their wire form
    rows: list[dict[str, Any]]  # the events rows, in record order
    owner_of: OwnerOf  # the catalog's owning agency of a service
    ordered: list[dict[str, Any]] = field(default_factory=list)  # by event id: lock order
    by_transaction: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    # The projection rows of the transactions a created event of it opens, made from the
    # batch's events alone: right for the new transactions they are in all but rare cases.
    opened: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=dict)


class BatchWriter:
    """Prepares and stores batches on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        postgres = engine.dialect.name == "postgresql"
        self._new_events = NewRowsCopy(t.events, "event_id") if postgres else None
        self._events_insert = RowsInsert(  # SQLite's way
            t.events,
            engine.dialect,
            lambda statement: statement.on_conflict_do_nothing(index_elements=["event_id"]),
        )
        self.projection = ProjectionWriter(engine)
        # Built once: constructing and cache-keying a statement costs more than running
        # these two one-row statements on SQLite.
        self._advance_head = (
            update(t.nodes)
            .where(t.nodes.c.node_id == bindparam("node"), t.nodes.c.head_seq == bindparam("prev"))
            .values(head_seq=bindparam("seq_"), head_hash=bindparam("hash_"))
            .returning(t.nodes.c.node_id)
        )
        self._insert_batch = insert(t.batches)

    def prepare(
        self,
        *,
        node_id: str,
        seq: int,
        wire: Sequence[Mapping[str, Any]],
        bodies: Sequence[str],
        now_ms: int,
        owner_of: OwnerOf,
    ) -> PreparedBatch:
        """Everything about batch ``seq`` that needs no database: its records in their
        validated wire form (``sync_protocol.decode_wire_with_bodies``) and each one's
        canonical JSON."""
        rows = batch_event_rows(wire, bodies, node_id=node_id, seq=seq, now_ms=now_ms)
        by_transaction = group_by_transaction(wire)
        opened = {
            item["transaction_id"]: transaction_rows(
                item["transaction_id"],
                by_transaction[item["transaction_id"]],
                None,
                owner_of=owner_of,
                now_ms=now_ms,
            )
            for item in wire
            if item["type"] == CREATED
        }
        return PreparedBatch(
            node_id=node_id,
            seq=seq,
            now_ms=now_ms,
            wire=wire,
            rows=rows,
            owner_of=owner_of,
            ordered=sorted(rows, key=lambda row: row["event_id"]),
            by_transaction=by_transaction,
            opened=opened,
        )

    def commit(
        self,
        prepared: PreparedBatch,
        *,
        batch_hash: bytes,
        envelope_bytes: int,
        make_receipt: Callable[[int, int], bytes],
        before_commit: Callable[[], None],
    ) -> BatchOutcome:
        """Store ``prepared`` in one transaction (see ``Store.commit_batch``)."""
        careful = False  # PostgreSQL: COPY without looking up first (see NewRowsCopy)
        for attempt in range(_CAREFUL_RETRIES + 1):
            try:
                return self._commit(
                    prepared, batch_hash, envelope_bytes, make_receipt, before_commit, careful
                )
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) not in _RETRYABLE_SQLSTATES:
                    raise
                # Rolled back whole; the caller re-classifies (a concurrent copy may have won).
                raise ChainMoved(
                    f"node {prepared.node_id} batch {prepared.seq}: {type(error.orig).__name__}"
                ) from None
            except CopyFailed as error:
                if error.sqlstate == _UNIQUE_VIOLATION and attempt < _CAREFUL_RETRIES:
                    # Some of these rows were stored already (a known event; a
                    # transaction whose status arrived before it), or a concurrent
                    # transaction stored them first: rolled back whole; now look up
                    # before each COPY.
                    careful = True
                    continue
                if error.sqlstate == _UNIQUE_VIOLATION or error.sqlstate in _RETRYABLE_SQLSTATES:
                    raise ChainMoved(
                        f"node {prepared.node_id} batch {prepared.seq}: {error}"
                    ) from None
                raise
        raise AssertionError("unreachable")

    def _commit(
        self,
        prepared: PreparedBatch,
        batch_hash: bytes,
        envelope_bytes: int,
        make_receipt: Callable[[int, int], bytes],
        before_commit: Callable[[], None],
        careful: bool,
    ) -> BatchOutcome:
        node, seq, records = prepared.node_id, prepared.seq, prepared.wire
        with self._engine.begin() as connection:
            advanced = connection.execute(
                self._advance_head,
                {"node": node, "prev": seq - 1, "seq_": seq, "hash_": batch_hash},
            ).first()
            if advanced is None:
                raise ChainMoved(f"node {node} head is no longer at seq {seq - 1}")
            stored = self._insert_events(connection, prepared, careful=careful)
            if len(stored) == len(records):  # every event is new: the prepared rows hold
                by_transaction, opened = prepared.by_transaction, prepared.opened
            else:  # fold only what this batch adds (a known event counts once)
                by_transaction = group_by_transaction(
                    wire for wire in records if wire["event_id"] in stored
                )
                opened = {}
            self.projection.fold(
                connection,
                by_transaction,
                owner_of=prepared.owner_of,
                now_ms=prepared.now_ms,
                prepared=None if careful else opened,
            )
            receipt = make_receipt(len(stored), len(records) - len(stored))
            connection.execute(
                self._insert_batch,
                {
                    "node_id": node,
                    "seq": seq,
                    "batch_hash": batch_hash,
                    "record_count": len(records),
                    "envelope_bytes": envelope_bytes,
                    "received_at_ms": prepared.now_ms,
                    "receipt": receipt,
                },
            )
            before_commit()
        return BatchOutcome(len(stored), len(records) - len(stored), receipt)

    def _insert_events(
        self, connection: Connection, prepared: PreparedBatch, *, careful: bool
    ) -> set[str]:
        """Insert the events not stored yet; return the ids of those this call stored.

        PostgreSQL: COPYs them all; if one was stored already, the COPY fails, the
        transaction is rolled back and tried again ``careful``: looking the ids up first
        and COPYing the rest (:class:`NewRowsCopy`). So a known event counts as known,
        never twice.
        SQLite: ``ON CONFLICT DO NOTHING`` as one executemany, which cannot return rows:
        if it wrote every row, every id is new (the usual case); otherwise the new ones
        are those now carrying this batch's node and seq. That is exact: SQLite has one
        writer at a time (``BEGIN IMMEDIATE``), and no other transaction can store
        events under this (node, seq), whose ``batches`` row (primary key) this
        transaction writes and whose head it has just advanced.
        """
        rows = prepared.ordered  # one lock order for every writer: no deadlock
        if not rows:
            return set()
        if self._new_events is not None:
            if careful:
                return self._new_events.copy_new(connection, rows)
            return self._new_events.write(connection, rows)
        result = self._events_insert.execute(connection, rows)
        if result.rowcount == len(rows):
            return {row["event_id"] for row in rows}
        ids = json.dumps([row["event_id"] for row in rows])
        found = connection.exec_driver_sql(
            "SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))"
            " AND batch_node_id = ? AND batch_seq = ?",
            (ids, prepared.node_id, prepared.seq),
        )
        return {event_id for (event_id,) in found}
