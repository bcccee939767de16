"""The SQLAlchemy Core implementation of the hub's :class:`Store` (SQLite and PostgreSQL).

Every method is one database transaction. Writes that must be atomic together (a batch,
its events, the projection, the chain head and the receipt) are one method, so a crash at
any instant leaves either all of them or none.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from central_hub.storage import schema as t
from central_hub.storage.bulk import CopyFailed, NewRowsCopy, RowsInsert
from central_hub.storage.interface import (
    BatchOutcome,
    ChainMoved,
    ChainSnapshot,
    ChangePage,
    ChangeRow,
    NodeRow,
    Store,
    TokenRedemption,
)
from central_hub.storage.rows import batch_event_rows, event_row, fold_projection, projection_upsert
from sync_protocol import (
    STATUSES,
    Record,
    TransactionStatus,
)
from sync_protocol.state import STATUS_PRECEDENCE

__all__ = [
    "BatchOutcome",
    "ChainMoved",
    "ChainSnapshot",
    "ChangePage",
    "ChangeRow",
    "NodeRow",
    "SqlStore",
    "Store",
    "TokenRedemption",
]

assert set(STATUSES) <= set(STATUS_PRECEDENCE)

# PostgreSQL deadlock_detected and serialization_failure: the transaction was rolled
# back whole and may simply be tried again.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
# Fewer projection rows than this go straight to the upsert (one statement, not two).
_COPY_FROM_ROWS = 32
# Times a batch is stored again after a concurrent one stored some of the same events.
_EVENT_RACE_RETRIES = 4


def _no_op() -> None:
    return None


class SqlStore:
    """:class:`Store` over SQLAlchemy Core; one class for SQLite and PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        postgres = self._dialect == "postgresql"

        self._new_events = NewRowsCopy(t.events, "event_id") if postgres else None
        self._new_transactions = NewRowsCopy(t.transactions, "transaction_id") if postgres else None
        self._events_insert = RowsInsert(  # SQLite's way
            t.events,
            engine.dialect,
            lambda statement: statement.on_conflict_do_nothing(index_elements=["event_id"]),
        )
        self._projection_upsert = RowsInsert(
            t.transactions,
            engine.dialect,
            lambda statement: projection_upsert(statement, postgres=postgres),
        )
        # Built once: constructing and cache-keying a statement costs more than running
        # these two one-row statements on SQLite.
        self._advance_head = (
            update(t.nodes)
            .where(t.nodes.c.node_id == bindparam("node"), t.nodes.c.head_seq == bindparam("prev"))
            .values(head_seq=bindparam("seq_"), head_hash=bindparam("hash_"))
            .returning(t.nodes.c.node_id)
        )
        self._insert_batch = insert(t.batches)
        batch = t.batches.c
        self._chain_snapshot = (
            select(t.nodes.c.head_seq, t.nodes.c.head_hash, batch.batch_hash, batch.receipt)
            .select_from(
                t.nodes.outerjoin(
                    t.batches,
                    (batch.node_id == t.nodes.c.node_id) & (batch.seq == bindparam("seq")),
                )
            )
            .where(t.nodes.c.node_id == bindparam("node"))
        )

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    # --- centers, enrollment, nodes ------------------------------------------------------

    def create_center(self, center_id: str, name: str, now_ms: int) -> None:
        """Create the center, or rename it if it exists (idempotent)."""
        statement = self._insert(t.centers).values(
            center_id=center_id, name=name, created_at_ms=now_ms
        )
        statement = statement.on_conflict_do_update(
            index_elements=["center_id"], set_={"name": name}
        )
        with self.engine.begin() as connection:
            connection.execute(statement)

    def create_enrollment_token(
        self, center_id: str, token_hash: str, now_ms: int, expires_at_ms: int
    ) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(t.enrollment_tokens).values(
                    token_hash=token_hash,
                    center_id=center_id,
                    created_at_ms=now_ms,
                    expires_at_ms=expires_at_ms,
                )
            )

    def redeem_enrollment_token(
        self, token_hash: str, node: NodeRow, software_version: str, now_ms: int
    ) -> TokenRedemption:
        """Consume the token and activate ``node`` atomically: of any number of concurrent
        redemptions exactly one sees ``redeemed``."""
        with self.engine.begin() as connection:
            claimed = connection.execute(
                update(t.enrollment_tokens)
                .where(
                    t.enrollment_tokens.c.token_hash == token_hash,
                    t.enrollment_tokens.c.used_at_ms.is_(None),
                    t.enrollment_tokens.c.expires_at_ms > now_ms,
                )
                .values(used_at_ms=now_ms, node_id=str(node.node_id))
                .returning(t.enrollment_tokens.c.center_id)
            ).first()
            if claimed is None:
                row = connection.execute(
                    select(t.enrollment_tokens.c.used_at_ms).where(
                        t.enrollment_tokens.c.token_hash == token_hash
                    )
                ).first()
                if row is None:
                    return TokenRedemption("unknown")
                return TokenRedemption("used" if row.used_at_ms is not None else "expired")
            center_id = claimed.center_id
            connection.execute(
                insert(t.nodes).values(
                    node_id=str(node.node_id),
                    center_id=center_id,
                    verify_key=node.verify_key,
                    sealing_key=node.sealing_key,
                    status="active",
                    enrolled_at_ms=now_ms,
                    head_seq=0,
                    head_hash=node.head_hash,
                    software_version=software_version,
                )
            )
            name = connection.execute(
                select(t.centers.c.name).where(t.centers.c.center_id == center_id)
            ).scalar_one()
        return TokenRedemption("redeemed", center_id=center_id, center_name=name)

    def _read(self) -> Connection:
        """A connection for one read statement, outside any transaction: no BEGIN and no
        ROLLBACK round trips on PostgreSQL, no write lock taken on SQLite."""
        return self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def get_node(self, node_id: uuid.UUID) -> NodeRow | None:
        with self._read() as connection:
            row = connection.execute(
                select(t.nodes).where(t.nodes.c.node_id == str(node_id))
            ).first()
        if row is None:
            return None
        return NodeRow(
            node_id=uuid.UUID(row.node_id),
            center_id=row.center_id,
            verify_key=bytes(row.verify_key),
            sealing_key=bytes(row.sealing_key),
            status=row.status,
            head_seq=row.head_seq,
            head_hash=bytes(row.head_hash),
        )

    def set_node_status(self, node_id: uuid.UUID, status: str, now_ms: int) -> bool:
        values: dict[str, Any] = {"status": status}
        if status == "revoked":
            values["revoked_at_ms"] = now_ms
        # RETURNING, not rowcount: psycopg reports -1 for some statements.
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(t.nodes)
                .where(t.nodes.c.node_id == str(node_id))
                .values(**values)
                .returning(t.nodes.c.node_id)
            ).first()
        return changed is not None

    def mark_forked(self, node_id: uuid.UUID) -> None:
        """Flag an active node's chain as forked for central IT (revoked stays revoked)."""
        with self.engine.begin() as connection:
            connection.execute(
                update(t.nodes)
                .where(t.nodes.c.node_id == str(node_id), t.nodes.c.status == "active")
                .values(status="forked")
            )

    def revoked_node_ids(self) -> list[str]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(t.nodes.c.node_id).where(t.nodes.c.status == "revoked")
            )
            return sorted(row.node_id for row in rows)

    # --- ingest ---------------------------------------------------------------------------

    def chain_snapshot(self, node_id: uuid.UUID, seq: int) -> ChainSnapshot:
        # One statement: a held batch (see ``Ingestor``) asks this again and again.
        with self._read() as connection:
            row = connection.execute(self._chain_snapshot, {"node": str(node_id), "seq": seq}).one()
        return ChainSnapshot(
            head_seq=row.head_seq,
            head_hash=bytes(row.head_hash),
            hash_at_seq=None if row.batch_hash is None else bytes(row.batch_hash),
            receipt_at_seq=None if row.receipt is None else bytes(row.receipt),
        )

    def commit_batch(
        self,
        *,
        node_id: uuid.UUID,
        seq: int,
        batch_hash: bytes,
        envelope_bytes: int,
        records: Sequence[Record],
        now_ms: int,
        make_receipt: Callable[[int, int], bytes],
        before_commit: Callable[[], None] = _no_op,
        rows: Sequence[dict[str, Any]] | None = None,
    ) -> BatchOutcome:
        """Store batch ``seq`` of ``node_id`` with its records, projection, chain head and
        receipt in one transaction. Raises :class:`ChainMoved` if another request moved the
        head first (a concurrent duplicate), or if the database rolled the transaction back
        for a retry (deadlock, serialization failure); the caller re-classifies.

        ``rows``, if given, are the records' ``events`` rows in the same order, built by
        the caller (:func:`~central_hub.storage.rows.batch_event_rows`); else built here.
        Either way before the transaction starts: write locks are held for the
        statements only."""
        node = str(node_id)
        if rows is None:
            rows = batch_event_rows(records, None, node_id=node, seq=seq, now_ms=now_ms)
        for attempt in range(_EVENT_RACE_RETRIES + 1):
            try:
                return self._commit_batch(
                    node, seq, batch_hash, envelope_bytes, records, rows, now_ms, make_receipt,
                    before_commit,
                )  # fmt: skip
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) not in _RETRYABLE_SQLSTATES:
                    raise
                # Rolled back whole; the caller re-classifies (a concurrent copy may have won).
                raise ChainMoved(f"node {node} batch {seq}: {type(error.orig).__name__}") from None
            except CopyFailed as error:
                if not error.retryable:
                    raise
                if not error.unique_violation or attempt == _EVENT_RACE_RETRIES:
                    raise ChainMoved(f"node {node} batch {seq}: {error}") from None
                # A concurrent transaction stored one of these events first (they came
                # through another node too): rolled back whole; the next lookup sees it.
        raise AssertionError("unreachable")

    def _commit_batch(
        self,
        node: str,
        seq: int,
        batch_hash: bytes,
        envelope_bytes: int,
        records: Sequence[Record],
        rows: Sequence[dict[str, Any]],
        now_ms: int,
        make_receipt: Callable[[int, int], bytes],
        before_commit: Callable[[], None],
    ) -> BatchOutcome:
        with self.engine.begin() as connection:
            advanced = connection.execute(
                self._advance_head,
                {"node": node, "prev": seq - 1, "seq_": seq, "hash_": batch_hash},
            ).first()
            if advanced is None:
                raise ChainMoved(f"node {node} head is no longer at seq {seq - 1}")
            stored = self._insert_events(connection, rows)
            fresh = [
                (record, row)
                for record, row in zip(records, rows, strict=True)
                if row["event_id"] in stored
            ]
            self._project(connection, fresh, now_ms)
            receipt = make_receipt(len(fresh), len(records) - len(fresh))
            connection.execute(
                self._insert_batch,
                {
                    "node_id": node,
                    "seq": seq,
                    "batch_hash": batch_hash,
                    "record_count": len(records),
                    "envelope_bytes": envelope_bytes,
                    "received_at_ms": now_ms,
                    "receipt": receipt,
                },
            )
            before_commit()
        return BatchOutcome(len(fresh), len(records) - len(fresh), receipt)

    def _insert_events(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert the events not stored yet; return the ids of those this call stored.

        PostgreSQL: looks the ids up and COPYs the rest (:class:`NewRowsCopy`); an event
        a concurrent transaction stores in between fails the COPY, and the batch is
        classified again (:class:`ChainMoved`), so it counts as known, never twice.
        SQLite: ``ON CONFLICT DO NOTHING`` as one executemany, which cannot return rows:
        if it wrote every row, every id is new (the usual case); otherwise the new ones
        are those now carrying this batch's node and seq. That is exact: SQLite has one
        writer at a time (``BEGIN IMMEDIATE``), and no other transaction can store
        events under this (node, seq), whose ``batches`` row (primary key) this
        transaction writes and whose head it has just advanced.
        """
        if not rows:
            return set()
        # One lock order for every writer: two batches sharing events cannot deadlock.
        ordered = sorted(rows, key=lambda row: row["event_id"])
        if self._new_events is not None:
            return self._new_events.execute(connection, ordered)
        result = self._events_insert.execute(connection, ordered)
        if result.rowcount == len(rows):
            return {row["event_id"] for row in rows}
        ids = json.dumps([row["event_id"] for row in rows])
        found = connection.exec_driver_sql(
            "SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))"
            " AND batch_node_id = ? AND batch_seq = ?",
            (ids, rows[0]["batch_node_id"], rows[0]["batch_seq"]),
        )
        return {event_id for (event_id,) in found}

    def _project(
        self,
        connection: Connection,
        fresh: Sequence[tuple[Record, dict[str, Any]]],
        now_ms: int,
    ) -> None:
        """Fold new events (each with its event row) into the per-transaction projection
        (:func:`fold_projection`), then merge into the stored rows by one upsert that
        compares keys in the database: no read-modify-write, so a concurrent writer's
        higher key is never overwritten by a lower one.

        On PostgreSQL a batch's transactions that are not stored yet (most of a backlog:
        each ``transaction.created`` starts one) are COPYed instead, as its events are,
        and only the rest go through the upsert.
        """
        folded = fold_projection(fresh, now_ms)
        # Sorted for the same reason as the events: one lock order for every writer.
        rows = [folded[txn] for txn in sorted(folded)]
        if self._new_transactions is not None and len(rows) >= _COPY_FROM_ROWS:
            created = self._new_transactions.execute(connection, rows)
            rows = [row for row in rows if row["transaction_id"] not in created]
        if rows:
            self._projection_upsert.execute(connection, rows)

    def quarantine_batch(
        self,
        *,
        node_id: uuid.UUID,
        seq: int,
        batch_hash: bytes,
        envelope: bytes,
        reason: str,
        now_ms: int,
    ) -> None:
        """Keep a forked batch for central IT and mark the node ``forked`` (idempotent)."""
        statement = (
            self._insert(t.quarantine)
            .values(
                node_id=str(node_id),
                seq=seq,
                batch_hash=batch_hash,
                reason=reason,
                envelope=envelope,
                received_at_ms=now_ms,
            )
            .on_conflict_do_nothing(index_elements=["node_id", "batch_hash"])
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
            connection.execute(
                update(t.nodes)
                .where(t.nodes.c.node_id == str(node_id), t.nodes.c.status == "active")
                .values(status="forked")
            )

    # --- request replay protection ---------------------------------------------------------

    def remember_nonce(
        self, node_id: uuid.UUID, nonce: str, expires_at_ms: int, now_ms: int
    ) -> bool:
        """Record a request nonce; False if it was already seen (a replay)."""
        statement = (
            self._insert(t.request_nonces)
            .values(node_id=str(node_id), nonce=nonce, expires_at_ms=expires_at_ms)
            .on_conflict_do_nothing(index_elements=["node_id", "nonce"])
            .returning(t.request_nonces.c.nonce)
        )
        with self.engine.begin() as connection:
            connection.execute(
                delete(t.request_nonces).where(t.request_nonces.c.expires_at_ms < now_ms)
            )
            return connection.execute(statement).first() is not None

    # --- change feed and catalog -----------------------------------------------------------

    def _append_change(
        self, connection: Connection, center_id: str | None, kind: str, body: str, now_ms: int
    ) -> int:
        if self._dialect == "postgresql":
            # Cursors must become visible in order, or a reader could skip one that commits
            # late; change volume is small, so writers simply take turns.
            connection.exec_driver_sql("LOCK TABLE changes IN EXCLUSIVE MODE")
        cursor = connection.execute(
            insert(t.changes)
            .values(center_id=center_id, kind=kind, body=body, created_at_ms=now_ms)
            .returning(t.changes.c.cursor)
        ).scalar_one()
        return int(cursor)

    def append_change(self, center_id: str | None, kind: str, body: str, now_ms: int) -> int:
        with self.engine.begin() as connection:
            return self._append_change(connection, center_id, kind, body, now_ms)

    def changes_after(
        self, center_id: str, cursor: int, *, max_rows: int, max_body_bytes: int
    ) -> ChangePage:
        """The changes for ``center_id`` after ``cursor``, in cursor order: at most
        ``max_rows``, and beyond the first (always taken, so a reader makes progress) no
        more than ``max_body_bytes`` of bodies in all. Rows are streamed, so memory stays
        near the page size however large the changes behind it are."""
        query = (
            select(t.changes)
            .where(
                t.changes.c.cursor > cursor,
                or_(t.changes.c.center_id.is_(None), t.changes.c.center_id == center_id),
            )
            .order_by(t.changes.c.cursor)
            .limit(max(max_rows, 1) + 1)  # one more than a page tells whether more follow
        )
        rows: list[ChangeRow] = []
        size, more = 0, False
        with self.engine.connect() as connection:
            result = connection.execution_options(yield_per=4).execute(query)
            try:
                for found in result:
                    body_bytes = len(found.body.encode("utf-8"))
                    if rows and (len(rows) >= max_rows or size + body_bytes > max_body_bytes):
                        more = True
                        break
                    rows.append(ChangeRow(found.cursor, found.center_id, found.kind, found.body))
                    size += body_bytes
            finally:
                result.close()  # a server-side cursor (PostgreSQL) left open warns later
        return ChangePage(tuple(rows), more=more)

    def publish_catalog(self, version: int, body: str, now_ms: int) -> bool:
        """Store catalog ``version`` and announce it on the feed; False if it exists."""
        with self.engine.begin() as connection:
            exists = connection.execute(
                select(func.count())
                .select_from(t.catalog_versions)
                .where(t.catalog_versions.c.version == version)
            ).scalar_one()
            if exists:
                return False
            connection.execute(
                insert(t.catalog_versions).values(
                    version=version, body=body, published_at_ms=now_ms
                )
            )
            self._append_change(connection, None, "catalog", body, now_ms)
        return True

    def latest_catalog(self) -> tuple[int, str] | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(t.catalog_versions.c.version, t.catalog_versions.c.body)
                .order_by(t.catalog_versions.c.version.desc())
                .limit(1)
            ).first()
        return (row.version, row.body) if row else None

    # --- agencies and operators ------------------------------------------------------------

    def create_api_token(self, token_hash: str, role: str, name: str, now_ms: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(t.api_tokens).values(
                    token_hash=token_hash, role=role, name=name, created_at_ms=now_ms
                )
            )

    def api_token_role(self, token_hash: str) -> str | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(t.api_tokens.c.role).where(
                    and_(
                        t.api_tokens.c.token_hash == token_hash,
                        t.api_tokens.c.revoked_at_ms.is_(None),
                    )
                )
            ).first()
        return row.role if row else None

    def transaction_center(self, transaction_id: uuid.UUID) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(t.transactions.c.center_id).where(
                    t.transactions.c.transaction_id == str(transaction_id)
                )
            ).scalar_one_or_none()

    def transaction_status(self, transaction_id: uuid.UUID) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(t.transactions.c.status).where(
                    t.transactions.c.transaction_id == str(transaction_id)
                )
            ).scalar_one_or_none()

    def list_transactions(
        self, *, status: str | None, center_id: str | None, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """A page of transactions in id (= recording time) order, after the id ``after``."""
        table = t.transactions
        query = select(
            table.c.transaction_id,
            table.c.center_id,
            table.c.service_code,
            table.c.fee_piasters,
            table.c.status,
            table.c.recorded_at_ms,
        )
        if status is not None:
            query = query.where(table.c.status == status)
        if center_id is not None:
            query = query.where(table.c.center_id == center_id)
        if after is not None:
            query = query.where(table.c.transaction_id > after)
        query = query.order_by(table.c.transaction_id).limit(limit)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def record_hub_event(self, record: TransactionStatus, now_ms: int) -> int:
        """Store a status event made at the hub and queue it for its center's feed."""
        row = event_row(record, now_ms, batch_node_id=None, batch_seq=None)
        with self.engine.begin() as connection:
            connection.execute(insert(t.events).values(**row))
            self._project(connection, [(record, row)], now_ms)
            return self._append_change(connection, record.center_id, "status", row["body"], now_ms)

    # --- monitoring --------------------------------------------------------------------------

    def save_heartbeat(self, node_id: uuid.UUID, values: dict[str, Any], now_ms: int) -> None:
        row = {"node_id": str(node_id), "received_at_ms": now_ms, **values}
        statement = self._insert(t.heartbeats).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["node_id"], set_={k: v for k, v in row.items() if k != "node_id"}
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
