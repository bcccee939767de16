"""The SQLAlchemy Core implementation of the hub's :class:`Store` (SQLite and PostgreSQL).

Every method is one database transaction. Writes that must be atomic together (a batch,
its events, the projection, the chain head and the receipt) are one method, so a crash at
any instant leaves either all of them or none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
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

from central_hub.storage import schema as t
from central_hub.storage.batches import BatchWriter, PreparedBatch
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
from central_hub.storage.rows import event_row, wire_form
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


def _no_op() -> None:
    return None


class SqlStore:
    """:class:`Store` over SQLAlchemy Core; one class for SQLite and PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        self._batches = BatchWriter(engine)
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

    def prepare_batch(
        self,
        *,
        node_id: uuid.UUID,
        seq: int,
        wire: Sequence[Mapping[str, Any]],
        bodies: Sequence[str],
        now_ms: int,
    ) -> PreparedBatch:
        return self._batches.prepare(
            node_id=str(node_id), seq=seq, wire=wire, bodies=bodies, now_ms=now_ms
        )

    def commit_batch(
        self,
        *,
        node_id: uuid.UUID,
        seq: int,
        batch_hash: bytes,
        envelope_bytes: int,
        now_ms: int,
        make_receipt: Callable[[int, int], bytes],
        before_commit: Callable[[], None] = _no_op,
        records: Sequence[Record] = (),
        prepared: PreparedBatch | None = None,
    ) -> BatchOutcome:
        """Store batch ``seq`` of ``node_id`` with its records, projection, chain head and
        receipt in one transaction. Raises :class:`ChainMoved` if another request moved the
        head first (a concurrent duplicate), or if the database rolled the transaction back
        for a retry (deadlock, serialization failure); the caller re-classifies.

        The batch is ``prepared`` (:meth:`prepare_batch`, done while the previous batch
        commits) or, for callers that hold :class:`Record` objects, ``records``, prepared
        here. Either way before the transaction starts: write locks are held for the
        statements only."""
        if prepared is None:
            forms = [wire_form(record) for record in records]
            prepared = self.prepare_batch(
                node_id=node_id,
                seq=seq,
                wire=[wire for wire, _ in forms],
                bodies=[body for _, body in forms],
                now_ms=now_ms,
            )
        return self._batches.commit(
            prepared,
            batch_hash=batch_hash,
            envelope_bytes=envelope_bytes,
            make_receipt=make_receipt,
            before_commit=before_commit,
        )

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
        wire, body = wire_form(record)
        row = event_row(wire, body, now_ms, batch_node_id=None, batch_seq=None)
        with self.engine.begin() as connection:
            connection.execute(insert(t.events).values(**row))
            self._batches.project(connection, [(wire, row)], now_ms)
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
