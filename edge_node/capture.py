"""Recording at the center: validate staff input, then write the event, its outbox entry
and the projection in one durable transaction. Works with the hub unreachable."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from edge_node.errors import CaptureError
from edge_node.events import insert_event
from edge_node.faults import crash_point
from edge_node.pii import PiiCipher
from edge_node.projection import apply_to_projection
from edge_node.store import LAST_STAMP_SQL, Store
from sync_protocol import (
    Catalog,
    HlcStamp,
    Record,
    TransactionCreated,
    TransactionStatus,
    ValidationError,
    decode_json,
    new_transaction_created,
    new_transaction_status,
    new_uuid7,
    parse_catalog,
    record_to_dict,
    tick_after,
)

__all__ = ["CaptureContext", "record_status_change", "record_transaction", "store_local_event"]

R = TypeVar("R", TransactionCreated, TransactionStatus)


@dataclass(frozen=True, slots=True)
class CaptureContext:
    node_id: uuid.UUID
    center_id: str
    pii: PiiCipher


# The two reads capture makes before it writes, in one statement: each statement costs
# more than the reading it does. (Two constants joined: nothing from outside.)
_READ_CATALOG_VERSION_AND_LAST_STAMP: Final = (
    f"SELECT (SELECT max(version) FROM catalog), {LAST_STAMP_SQL}"  # noqa: S608
)


def _current_catalog(store: Store, version: int | None) -> Catalog | None:
    """The catalog of ``version``, the newest held (as ``edge_node.catalog.current_catalog``),
    parsed once per version: parsing and validating it costs ~12 ms, many times the durable
    write itself, and a stored version's body never changes (``install_catalog`` never
    overwrites)."""
    if version is None:
        return None
    cached = store.parsed_catalog
    if cached is None or cached[0] != version:
        (body,) = store.connection.execute(
            "SELECT body FROM catalog WHERE version = ?", (version,)
        ).fetchone()
        cached = store.parsed_catalog = (version, parse_catalog(decode_json(body.encode())))
    return cached[1]


def store_local_event(
    connection: sqlite3.Connection, pii: PiiCipher, record: Record, now_ms: int
) -> None:
    """The rows a record made here is kept in: the event, its outbox entry (to be sealed)
    and the projection, inside the caller's write transaction."""
    wire = record_to_dict(record)  # built once for the event row and the projection
    insert_event(connection, pii, record, wire, origin="local")
    connection.execute(
        "INSERT INTO outbox (event_id, enqueued_at_ms) VALUES (?, ?)",
        (wire["event_id"], now_ms),
    )
    apply_to_projection(connection, pii, record, wire, now_ms)


def _record(
    store: Store,
    context: CaptureContext,
    build: Callable[[int | None, HlcStamp], R],
    now_ms: int,
) -> R:
    with store.write() as connection:
        # Read inside the write transaction: the clock resumes from the stamp persisted in
        # the file, so several processes writing to one file still get increasing stamps,
        # and a new transaction is checked against the catalog as of the write.
        version, last = connection.execute(_READ_CATALOG_VERSION_AND_LAST_STAMP).fetchone()
        stamp = tick_after(None if last is None else HlcStamp.decode(last), context.node_id, now_ms)
        try:
            record = build(version, stamp)
        except ValidationError as error:
            raise CaptureError(str(error)) from None
        store_local_event(connection, context.pii, record, now_ms)
        crash_point("record-before-commit")
    crash_point("record-after-commit")
    return record


def record_transaction(
    store: Store,
    context: CaptureContext,
    *,
    service_code: str,
    national_id: str,
    citizen_name: str,
    staff_id: str,
    now_ms: int,
    fee_piasters: int | None = None,
) -> TransactionCreated:
    """Record a new citizen transaction; the fee defaults to the catalog's."""

    def build(catalog_version: int | None, stamp: HlcStamp) -> TransactionCreated:
        catalog = _current_catalog(store, catalog_version)
        if catalog is None:
            raise CaptureError("no service catalog yet", hint="sync once with the hub first")
        service = catalog.by_code(service_code.strip().upper())
        if service is None or not service.active:
            raise CaptureError(f"unknown or retired service {service_code!r}")
        fee = service.fee_piasters if fee_piasters is None else fee_piasters
        return new_transaction_created(
            event_id=new_uuid7(now_ms),
            hlc=stamp,
            center_id=context.center_id,
            service_code=service.code,
            national_id=national_id,
            citizen_name=citizen_name,
            fee_piasters=fee,
            staff_id=staff_id,
            recorded_at_ms=now_ms,
        )

    return _record(store, context, build, now_ms)


def record_status_change(
    store: Store,
    context: CaptureContext,
    *,
    transaction_id: uuid.UUID,
    status: str,
    staff_id: str,
    now_ms: int,
    note: str = "",
) -> TransactionStatus:
    """Record a status event made at the center (e.g. delivered to the citizen)."""

    def build(_: int | None, stamp: HlcStamp) -> TransactionStatus:
        known = store.connection.execute(  # inside the write transaction, as the reads
            "SELECT 1 FROM transactions WHERE transaction_id = ?", (str(transaction_id),)
        ).fetchone()
        if known is None:
            raise CaptureError(f"no transaction {transaction_id} at this center")
        return new_transaction_status(
            event_id=new_uuid7(now_ms),
            hlc=stamp,
            center_id=context.center_id,
            transaction_id=transaction_id,
            status=status,
            actor_id=staff_id,
            note=note,
            recorded_at_ms=now_ms,
        )

    return _record(store, context, build, now_ms)
