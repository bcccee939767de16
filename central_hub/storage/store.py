"""The SQLAlchemy Core implementation of the hub's :class:`Store` (SQLite and PostgreSQL).

Every method is one database transaction. Writes that must be atomic together (a batch,
its events, the projection, the chain head and the receipt) are one method, so a crash at
any instant leaves either all of them or none.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from central_hub.storage import schema as t
from central_hub.storage.batches import BatchWriter, PreparedBatch
from central_hub.storage.interface import (
    BatchOutcome,
    ChainMoved,
    ChainSnapshot,
    ChangePage,
    ChangeRow,
    DecisionReplay,
    NodeRow,
    Store,
    TokenRedemption,
    TokenRow,
)
from central_hub.storage.projection import StoredTransaction
from central_hub.storage.rows import event_row, wire_form
from sync_protocol import Catalog, Record, TransactionDecision, decode_json, parse_catalog
from sync_protocol.state import Summary, fold_wire

__all__ = [
    "BatchOutcome",
    "ChainMoved",
    "ChainSnapshot",
    "ChangePage",
    "ChangeRow",
    "DecisionReplay",
    "NodeRow",
    "SqlStore",
    "Store",
    "StoredTransaction",
    "TokenRedemption",
    "TokenRow",
]


def _no_op() -> None:
    return None


class SqlStore:
    """:class:`Store` over SQLAlchemy Core; one class for SQLite and PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        self._batches = BatchWriter(engine)
        self._projection = self._batches.projection
        self._catalog: Catalog | None = None
        self._catalog_lock = threading.Lock()
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
        if self._catalog is None:
            self.current_catalog()  # for _held_owner_of in the commit
        return self._batches.prepare(
            node_id=str(node_id),
            seq=seq,
            wire=wire,
            bodies=bodies,
            now_ms=now_ms,
            owner_of=self._held_owner_of,
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

    def current_catalog(self) -> Catalog | None:
        """The newest published catalog, parsed once per version (parsing one costs ~10 ms:
        many times a lookup)."""
        with self.engine.connect() as connection:
            version = connection.execute(select(func.max(t.catalog_versions.c.version))).scalar()
        held = self._catalog
        if version is None or (held is not None and held.version == version):
            return held
        with self._catalog_lock:
            latest = self.latest_catalog()
            if latest is not None and (self._catalog is None or self._catalog.version < latest[0]):
                self._catalog = parse_catalog(decode_json(latest[1].encode("utf-8")))
            return self._catalog

    def owner_of(self, service_code: str | None) -> str | None:
        """The agency that owns ``service_code`` in the catalog: it decides a transaction
        of the previous release. A service keeps its owner in every later catalog
        (``check_upgrade``), so any version that lists it answers."""
        if service_code is None:
            return None
        catalog = self._catalog or self.current_catalog()
        return None if catalog is None else catalog.owner_of(service_code)

    def _held_owner_of(self, service_code: str | None) -> str | None:
        """:meth:`owner_of` from the catalog already parsed, for use inside a write
        transaction (on SQLite another connection would wait for this one's lock). The
        caller loaded it before the transaction; the services of the previous release,
        the only ones whose owner matters, are in every catalog."""
        catalog = self._catalog
        return None if catalog is None or service_code is None else catalog.owner_of(service_code)

    # --- agencies and operators ------------------------------------------------------------

    def create_api_token(
        self, token_hash: str, role: str, name: str, now_ms: int, agency_code: str | None = None
    ) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                insert(t.api_tokens).values(
                    token_hash=token_hash,
                    role=role,
                    name=name,
                    agency_code=agency_code,
                    created_at_ms=now_ms,
                )
            )

    def api_token_named(self, name: str) -> bool:
        """An unrevoked token has this holder's name."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(t.api_tokens.c.name).where(
                    t.api_tokens.c.name == name, t.api_tokens.c.revoked_at_ms.is_(None)
                )
            ).first()
        return found is not None

    def api_token(self, token_hash: str) -> TokenRow | None:
        """The unrevoked token with this hash, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(t.api_tokens.c.role, t.api_tokens.c.name, t.api_tokens.c.agency_code).where(
                    and_(
                        t.api_tokens.c.token_hash == token_hash,
                        t.api_tokens.c.revoked_at_ms.is_(None),
                    )
                )
            ).first()
        return TokenRow(row.role, row.name, row.agency_code) if row else None

    def transaction(self, transaction_id: uuid.UUID) -> StoredTransaction | None:
        """A transaction's projection as stored (center, fee, summary), or None."""
        return self.transactions([str(transaction_id)]).get(str(transaction_id))

    def transactions(self, transaction_ids: Sequence[str]) -> dict[str, StoredTransaction]:
        """The stored projections of those of ``transaction_ids`` the hub holds."""
        with self._read() as connection:
            return self._projection.read(connection, transaction_ids, lock=False)

    def transaction_view(self, transaction_id: uuid.UUID) -> dict[str, Any] | None:
        """What an agency sees of a transaction: its row, its lanes and the bodies of its
        status and decision events (not the opening event's: it holds the citizen's
        national ID and name)."""
        txn = str(transaction_id)
        with self.engine.connect() as connection:
            row = connection.execute(
                select(t.transactions).where(t.transactions.c.transaction_id == txn)
            ).first()
            if row is None:
                return None
            lanes = connection.execute(
                select(t.approvals)
                .where(t.approvals.c.transaction_id == txn)
                .order_by(t.approvals.c.agency_code)
            )
            events = connection.execute(
                select(t.events.c.body)
                .where(t.events.c.transaction_id == txn, t.events.c.type != "transaction.created")
                .order_by(t.events.c.hlc, t.events.c.event_id)
            )
            return {
                "transaction": dict(row._mapping),
                "lanes": [dict(lane._mapping) for lane in lanes],
                "events": [decode_json(body.encode("utf-8")) for (body,) in events],
            }

    def decide(
        self,
        *,
        transaction_id: uuid.UUID,
        agency_code: str,
        idempotency_key: str,
        request: Mapping[str, Any],
        now_ms: int,
        make: Callable[[str, Summary], TransactionDecision],
        answer: Callable[[TransactionDecision, Summary], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """Record an agency decision and queue it for its center, in one transaction:
        lock the transaction's row, answer a request already made under this idempotency
        key with what it got, else ``make`` the event from the transaction's summary (it
        raises to refuse: nothing is written), store it with the projection, the feed
        change and the answer. Returns the answer and whether it is a replay.

        Raises :class:`DecisionReplay` for a key used before with a different request."""
        txn = str(transaction_id)
        digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        requests = t.agency_requests.c
        if self._catalog is None:
            self.current_catalog()  # for owner_of, before the write lock is taken
        try:
            with self.engine.begin() as connection:
                held = self._projection.read(connection, [txn], lock=True).get(txn)
                prior = connection.execute(
                    select(requests.request_hash, requests.answer).where(
                        requests.agency_code == agency_code,
                        requests.idempotency_key == idempotency_key,
                    )
                ).first()
                if prior is not None:
                    if prior.request_hash != digest:
                        raise DecisionReplay(idempotency_key)
                    return json.loads(prior.answer), True
                center = held.center_id if held is not None else ""
                record = make(center, held.summary if held is not None else Summary())
                assert held is not None  # make() refuses an unknown transaction
                wire, body = wire_form(record)
                row = event_row(wire, body, now_ms, batch_node_id=None, batch_seq=None)
                connection.execute(insert(t.events).values(**row))
                self._projection.fold(
                    connection,
                    {txn: [wire]},
                    owner_of=self._held_owner_of,
                    now_ms=now_ms,
                    held={txn: held},  # read and locked above
                )
                self._append_change(connection, center, "decision", row["body"], now_ms)
                result = answer(record, fold_wire(held.summary, wire))
                connection.execute(
                    insert(t.agency_requests).values(
                        agency_code=agency_code,
                        idempotency_key=idempotency_key,
                        request_hash=digest,
                        transaction_id=txn,
                        answer=json.dumps(result),
                        created_at_ms=now_ms,
                    )
                )
        except IntegrityError:
            # The same key, concurrently, for another transaction: one of them won.
            raise DecisionReplay(idempotency_key) from None
        return result, False

    def agency_queue_query(
        self,
        agency_code: str,
        *,
        center_id: str | None = None,
        service_code: str | None = None,
        after: tuple[int, str] | None = None,
        limit: int = 50,
    ) -> Select[Any]:
        """The statement of :meth:`agency_queue` (the benchmark prints its plan)."""
        lane, txn = t.approvals.c, t.transactions.c
        query = (
            select(
                lane.transaction_id,
                lane.center_id,
                lane.service_code,
                lane.queue_since_ms,
                lane.requested_at_ms,
                lane.outcome,
                txn.fee_piasters,
                txn.required_agencies,
            )
            .select_from(
                t.approvals.join(t.transactions, txn.transaction_id == lane.transaction_id)
            )
            .where(lane.agency_code == agency_code, lane.queue_since_ms.is_not(None))
            .order_by(lane.queue_since_ms, lane.transaction_id)
            .limit(limit)
        )
        if center_id is not None:
            query = query.where(lane.center_id == center_id)
        if service_code is not None:
            query = query.where(lane.service_code == service_code)
        if after is not None:
            query = query.where(tuple_(lane.queue_since_ms, lane.transaction_id) > after)
        return query

    def agency_queue(
        self,
        agency_code: str,
        *,
        center_id: str | None,
        service_code: str | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The transactions waiting on ``agency_code``'s decision, oldest wait first, after
        the (wait start, transaction id) ``after``: an index range, never a scan."""
        query = self.agency_queue_query(
            agency_code, center_id=center_id, service_code=service_code, after=after, limit=limit
        )
        with self._read() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def lanes_of(self, transaction_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """Each transaction's required lanes as (agency, state), in agency order."""
        lane = t.approvals.c
        found: dict[str, list[tuple[str, str]]] = {txn: [] for txn in transaction_ids}
        if not transaction_ids:
            return found
        query = (
            select(lane.transaction_id, lane.agency_code, lane.state)
            .where(lane.transaction_id.in_(list(transaction_ids)), lane.required.is_(True))
            .order_by(lane.transaction_id, lane.agency_code)
        )
        with self._read() as connection:
            for row in connection.execute(query):
                found[row.transaction_id].append((row.agency_code, row.state))
        return found

    def approval_counts(self) -> list[dict[str, Any]]:
        """Per agency and center: lanes waiting on the agency (and since when, the oldest)
        and lanes waiting on the center's answer to an information request."""
        lane = t.approvals.c
        waiting = (
            select(
                lane.agency_code,
                lane.center_id,
                func.count().label("waiting"),
                func.min(lane.queue_since_ms).label("oldest_since_ms"),
            )
            .where(lane.queue_since_ms.is_not(None))
            .group_by(lane.agency_code, lane.center_id)
        )
        asked = (
            select(lane.agency_code, lane.center_id, func.count().label("info_requested"))
            .where(lane.state == "info_requested", lane.required.is_(True))
            .group_by(lane.agency_code, lane.center_id)
        )
        counts: dict[tuple[str, str], dict[str, Any]] = {}
        with self._read() as connection:
            for row in connection.execute(waiting):
                counts[(row.agency_code, row.center_id)] = {
                    "agency_code": row.agency_code,
                    "center_id": row.center_id,
                    "waiting": row.waiting,
                    "oldest_since_ms": row.oldest_since_ms,
                    "info_requested": 0,
                }
            for row in connection.execute(asked):
                entry = counts.setdefault(
                    (row.agency_code, row.center_id),
                    {
                        "agency_code": row.agency_code,
                        "center_id": row.center_id,
                        "waiting": 0,
                        "oldest_since_ms": None,
                        "info_requested": 0,
                    },
                )
                entry["info_requested"] = row.info_requested
        return [counts[key] for key in sorted(counts)]

    def decision_times(self, agency_code: str, since_ms: int) -> list[tuple[str, int]]:
        """(outcome, milliseconds from recording to decision) of the agency's decisions
        made since ``since_ms``."""
        lane = t.approvals.c
        query = select(lane.state, lane.decision_ms).where(
            lane.agency_code == agency_code,
            lane.decision_ms.is_not(None),
            lane.decided_at_ms >= since_ms,
        )
        with self._read() as connection:
            return [(row.state, int(row.decision_ms)) for row in connection.execute(query)]

    def decided_agencies(self, since_ms: int) -> list[str]:
        """The agencies with a decision since ``since_ms`` (for a report of every agency)."""
        lane = t.approvals.c
        query = (
            select(lane.agency_code)
            .where(lane.decision_ms.is_not(None), lane.decided_at_ms >= since_ms)
            .distinct()
        )
        with self._read() as connection:
            return sorted(row.agency_code for row in connection.execute(query))

    # --- monitoring --------------------------------------------------------------------------

    def save_heartbeat(self, node_id: uuid.UUID, values: dict[str, Any], now_ms: int) -> None:
        row = {"node_id": str(node_id), "received_at_ms": now_ms, **values}
        statement = self._insert(t.heartbeats).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["node_id"], set_={k: v for k, v in row.items() if k != "node_id"}
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
