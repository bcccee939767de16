"""Writing the per-transaction projection (``transactions`` and ``approvals`` rows) inside a
caller's database transaction, equal to the protocol's state function.

Every writer of a transaction's events locks its ``transactions`` row first (PostgreSQL:
``FOR UPDATE``, in transaction id order so that writers never deadlock; SQLite has one
writer at a time), folds the new events into the summary its rows hold, and writes the
rows back. So a batch and an agency decision on the same transaction, on two workers,
take turns, and the overall status always reflects every lane. Transactions new to the
hub (the bulk of a backlog) are inserted without a lookup (COPY on PostgreSQL); a
transaction that exists after all fails that insert, and the caller retries looking up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Connection, Engine, select

from central_hub.storage import schema as t
from central_hub.storage.bulk import NewRowsCopy, RowsInsert
from central_hub.storage.lanes import summary_from_rows
from central_hub.storage.rows import opening_fee, opening_rows, projection_rows
from sync_protocol.state import Summary, summarize

__all__ = ["OwnerOf", "ProjectionWriter", "StoredTransaction", "transaction_rows"]

# The agency that owns a service (catalog ``agency_code``): it decides a transaction of
# the previous release. None for a service the catalog does not know.
OwnerOf = Callable[[str | None], str | None]
_NON_KEY_APPROVAL_COLUMNS: Final = tuple(
    c.name for c in t.approvals.c if c.name not in ("transaction_id", "agency_code")
)
_NON_KEY_TRANSACTION_COLUMNS: Final = tuple(
    c.name for c in t.transactions.c if c.name != "transaction_id"
)


class StoredTransaction:
    """A transaction's rows as read (and, on PostgreSQL, locked) for a write."""

    __slots__ = ("center_id", "fee_piasters", "summary")

    def __init__(self, center_id: str, fee_piasters: int | None, summary: Summary) -> None:
        self.center_id = center_id
        self.fee_piasters = fee_piasters
        self.summary = summary


class ProjectionWriter:
    """The statements that read, lock and write projection rows on one engine."""

    def __init__(self, engine: Engine) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        postgres = self._postgres
        self.new_transactions = NewRowsCopy(t.transactions, "transaction_id") if postgres else None
        self._new_lanes = NewRowsCopy(t.approvals, "transaction_id") if postgres else None
        self._transactions_upsert = RowsInsert(
            t.transactions,
            engine.dialect,
            lambda statement: statement.on_conflict_do_update(
                index_elements=["transaction_id"],
                set_={name: statement.excluded[name] for name in _NON_KEY_TRANSACTION_COLUMNS},
            ),
        )
        self._lanes_upsert = RowsInsert(
            t.approvals,
            engine.dialect,
            lambda statement: statement.on_conflict_do_update(
                index_elements=["transaction_id", "agency_code"],
                set_={name: statement.excluded[name] for name in _NON_KEY_APPROVAL_COLUMNS},
            ),
        )

    # --- reading --------------------------------------------------------------------------

    def read(
        self, connection: Connection, transaction_ids: Iterable[str], *, lock: bool
    ) -> dict[str, StoredTransaction]:
        """The stored transactions among ``transaction_ids``; with ``lock`` (PostgreSQL)
        their rows stay locked to the end of the caller's transaction."""
        ids = sorted(set(transaction_ids))
        if not ids:
            return {}
        query = (
            select(t.transactions)
            .where(t.transactions.c.transaction_id.in_(ids))
            .order_by(t.transactions.c.transaction_id)
        )
        if lock and self._postgres:
            query = query.with_for_update()
        found: dict[str, Mapping[str, Any]] = {
            row.transaction_id: dict(row._mapping) for row in connection.execute(query)
        }
        if not found:
            return {}
        lanes: dict[str, list[Mapping[str, Any]]] = {txn: [] for txn in found}
        lane_query = select(t.approvals).where(t.approvals.c.transaction_id.in_(sorted(found)))
        for lane in connection.execute(lane_query):
            lanes[lane.transaction_id].append(dict(lane._mapping))
        return {
            txn: StoredTransaction(
                row["center_id"], row["fee_piasters"], summary_from_rows(row, lanes[txn])
            )
            for txn, row in found.items()
        }

    # --- writing --------------------------------------------------------------------------

    def insert_new(
        self,
        connection: Connection,
        rows: Sequence[dict[str, Any]],
        lanes: Sequence[dict[str, Any]],
    ) -> None:
        """Insert the rows of transactions the hub does not hold yet, with no lookup. On
        PostgreSQL one that exists after all fails the COPY (``CopyFailed``, unique
        violation) and the caller's transaction is to be retried looking up."""
        if not rows:
            return
        if self.new_transactions is not None and self._new_lanes is not None:
            self.new_transactions.write(connection, rows)
            self._new_lanes.write(connection, lanes)
            return
        # SQLite: the caller looked up first (one writer at a time): these are new.
        self._transactions_upsert.execute(connection, rows)
        if lanes:
            self._lanes_upsert.execute(connection, lanes)

    def update(
        self,
        connection: Connection,
        rows: Sequence[dict[str, Any]],
        lanes: Sequence[dict[str, Any]],
    ) -> None:
        """Write back the rows of transactions read (and locked) in this transaction."""
        if rows:
            self._transactions_upsert.execute(connection, rows)
        if lanes:
            self._lanes_upsert.execute(connection, lanes)

    def fold(
        self,
        connection: Connection,
        events: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        owner_of: OwnerOf,
        now_ms: int,
        prepared: Mapping[str, tuple[dict[str, Any], list[dict[str, Any]]]] | None = None,
        held: Mapping[str, StoredTransaction] | None = None,
    ) -> None:
        """Fold ``events`` (wire forms by transaction id) into the stored projection:
        lock and read the transactions stored already, fold, write them back; insert the
        others.

        ``prepared`` holds rows made beforehand (:func:`transaction_rows` of the events
        alone) for transactions the caller expects to be new (those a batch opens): on
        PostgreSQL they are inserted without a lookup, on SQLite after one (a statement
        in-process); either way one that exists is folded like the rest. ``held``: every
        transaction of ``events`` as the caller read and locked it in this transaction
        already (none is read again)."""
        prepared = prepared or {}
        blind = set(prepared) if self._postgres else set()
        stored = (
            held
            if held is not None
            else self.read(connection, [txn for txn in events if txn not in blind], lock=True)
        )
        fresh_rows: list[dict[str, Any]] = []
        fresh_lanes: list[dict[str, Any]] = []
        old_rows: list[dict[str, Any]] = []
        old_lanes: list[dict[str, Any]] = []
        for txn in sorted(events):
            before = stored.get(txn)
            made = prepared.get(txn) if before is None else None
            row, lanes = made or transaction_rows(
                txn, events[txn], before, owner_of=owner_of, now_ms=now_ms
            )
            if before is None:
                fresh_rows.append(row)
                fresh_lanes.extend(lanes)
            else:
                old_rows.append(row)
                old_lanes.extend(lanes)
        self.insert_new(connection, fresh_rows, fresh_lanes)
        self.update(connection, old_rows, old_lanes)


def transaction_rows(
    transaction_id: str,
    events: Sequence[Mapping[str, Any]],
    before: StoredTransaction | None,
    *,
    owner_of: OwnerOf,
    now_ms: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``transactions`` row and ``approvals`` rows of a transaction once ``events``
    (wire forms) are folded into what it held ``before`` (None: nothing stored)."""
    if before is None and len(events) == 1:
        opening = opening_rows(events[0], now_ms)  # most of a backlog: made directly
        if opening is not None:
            return opening
    summary = summarize(events, before.summary if before else None)
    fee = opening_fee(events)
    return projection_rows(
        transaction_id,
        before.center_id if before else events[0]["center_id"],
        summary,
        fee_piasters=before.fee_piasters if before and fee is None else fee,
        owner=owner_of(summary.service_code),
        now_ms=now_ms,
    )
