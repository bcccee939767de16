"""Recording at the center: validate staff input, then write the event, its outbox entry
and the projection in one durable transaction. Works with the hub unreachable.

An event on an existing transaction (delivered, cancelled, an answer to an agency's
information request) is checked against the one-stop workflow
(``sync_protocol.workflow.check_center_event``) inside the same write transaction, and
stamped after every event the node knows of that transaction: a hub decision may carry a
stamp ahead of this PC's clock, and the hub judges the center's event by stamp order.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from edge_node.catalog import catalog_of_version, owner_lookup
from edge_node.errors import CaptureError
from edge_node.events import insert_event
from edge_node.faults import crash_point
from edge_node.pii import PiiCipher
from edge_node.projection import OwnerOf, apply_to_projection, legacy_owner, load_summary
from edge_node.store import LAST_STAMP_SQL, Store
from sync_protocol import (
    CENTER_STATUSES,
    HlcStamp,
    Record,
    TransactionCreated,
    TransactionDecision,
    TransactionStatus,
    ValidationError,
    WorkflowError,
    check_center_event,
    new_transaction_created,
    new_transaction_decision,
    new_transaction_status,
    new_uuid7,
    record_to_dict,
    tick_after,
)
from sync_protocol.state import Summary

__all__ = [
    "CaptureContext",
    "record_info_provided",
    "record_status_change",
    "record_transaction",
    "store_local_event",
]

R = TypeVar("R", TransactionCreated, TransactionStatus, TransactionDecision)


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


def store_local_event(
    connection: sqlite3.Connection,
    pii: PiiCipher,
    record: Record,
    now_ms: int,
    *,
    summary: Summary | None = None,
    owner_of: OwnerOf | None = None,
) -> None:
    """The rows a record made here is kept in: the event, its outbox entry (to be sealed)
    and the projection, inside the caller's write transaction. ``summary`` and
    ``owner_of``: see :func:`~edge_node.projection.apply_to_projection`."""
    wire = record_to_dict(record)  # built once for the event row and the projection
    if not insert_event(connection, pii, record, wire, origin="local"):
        return  # known already (and queued, or sealed): storing it again would resend it
    connection.execute(
        "INSERT INTO outbox (event_id, enqueued_at_ms) VALUES (?, ?)",
        (wire["event_id"], now_ms),
    )
    apply_to_projection(connection, pii, record, wire, now_ms, summary=summary, owner_of=owner_of)


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
    """Record a new citizen transaction; the fee defaults to the catalog's, and the
    agencies whose approval it needs are the catalog's for the service (none in a
    format 1 catalog)."""
    with store.write() as connection:
        # Read inside the write transaction: the clock resumes from the stamp persisted in
        # the file, so several processes writing to one file still get increasing stamps,
        # and a new transaction is checked against the catalog as of the write.
        version, last = connection.execute(_READ_CATALOG_VERSION_AND_LAST_STAMP).fetchone()
        stamp = tick_after(None if last is None else HlcStamp.decode(last), context.node_id, now_ms)
        catalog = catalog_of_version(store, version)
        if catalog is None:
            raise CaptureError("no service catalog yet", hint="sync once with the hub first")
        service = catalog.by_code(service_code.strip().upper())
        if service is None or not service.active:
            raise CaptureError(
                f"unknown or retired service {service_code!r}",
                hint="list the services: edge-node services --search WORD",
            )
        fee = service.fee_piasters if fee_piasters is None else fee_piasters
        record = _built(
            lambda: new_transaction_created(
                event_id=new_uuid7(now_ms),
                hlc=stamp,
                center_id=context.center_id,
                service_code=service.code,
                national_id=national_id,
                citizen_name=citizen_name,
                fee_piasters=fee,
                staff_id=staff_id,
                recorded_at_ms=now_ms,
                required_agencies=service.required_agencies,
            )
        )
        store_local_event(connection, context.pii, record, now_ms)
        crash_point("record-before-commit")
    crash_point("record-after-commit")
    return record


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
    """Record ``delivered`` (handed to the citizen: only once every required agency has
    approved, or at once for a service that needs no approval) or ``cancelled`` (only
    while the transaction is open). Agencies decide their parts at the hub."""
    if status not in CENTER_STATUSES:
        raise CaptureError(
            f"a center records {' or '.join(CENTER_STATUSES)}, not {status!r}: "
            "agencies decide their parts at the hub",
            code="decision_not_allowed",
        )

    def build(stamp: HlcStamp) -> TransactionStatus:
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

    return _record_on_transaction(store, context, transaction_id, build, now_ms)


def record_info_provided(
    store: Store,
    context: CaptureContext,
    *,
    transaction_id: uuid.UUID,
    agency_code: str,
    note: str,
    staff_id: str,
    now_ms: int,
) -> TransactionDecision:
    """Answer ``agency_code``'s open information request on the transaction (what was
    provided, in ``note``); this reopens that agency's review at the hub."""
    if not note.strip():
        raise CaptureError(
            "say what was provided in the note",
            code="invalid_text",
            hint="e.g. --note 'صورة العقد'",
        )

    def build(stamp: HlcStamp) -> TransactionDecision:
        return new_transaction_decision(
            event_id=new_uuid7(now_ms),
            hlc=stamp,
            center_id=context.center_id,
            transaction_id=transaction_id,
            agency_code=agency_code.strip(),
            decision="info_provided",
            note=note,
            actor_id=staff_id,
            recorded_at_ms=now_ms,
        )

    return _record_on_transaction(store, context, transaction_id, build, now_ms)


def _record_on_transaction(
    store: Store,
    context: CaptureContext,
    transaction_id: uuid.UUID,
    build: Callable[[HlcStamp], R],
    now_ms: int,
) -> R:
    """Write an event on an existing transaction if the workflow allows it now."""
    with store.write() as connection:
        # Everything read inside the write transaction: the check and the stamp hold for
        # the state the event is written over, whatever another process did before.
        version, last = connection.execute(_READ_CATALOG_VERSION_AND_LAST_STAMP).fetchone()
        summary = load_summary(connection, str(transaction_id)) or Summary()
        if not summary.opened:  # also what check_center_event says; first, as the clearest
            raise CaptureError(
                f"no transaction {transaction_id} at this center", code="unknown_transaction"
            )
        after = max(last or "", summary.latest_hlc)  # canonical stamps sort as their texts
        stamp = tick_after(HlcStamp.decode(after) if after else None, context.node_id, now_ms)
        record = _built(lambda: build(stamp))
        owner_of = owner_lookup(store, version)
        try:
            check_center_event(summary, record_to_dict(record), legacy_owner(summary, owner_of))
        except WorkflowError as error:
            raise CaptureError(
                str(error), code=error.code, hint=_AWAITS_HUB.get(error.code)
            ) from None
        store_local_event(
            connection, context.pii, record, now_ms, summary=summary, owner_of=owner_of
        )
        crash_point("record-before-commit")
    crash_point("record-after-commit")
    return record


# Refusals that the agencies' latest decisions, not yet received here, may lift.
_AWAITS_HUB: Final = {
    "not_approved": "if the agencies may have decided since, run `edge-node sync --once` "
    "and look again (`edge-node show`)",
    "no_information_requested": "if the agency may have asked since, run `edge-node sync "
    "--once`; `edge-node info-requests` lists the open requests",
}


def _built(build: Callable[[], R]) -> R:
    """``build()``, its validation errors as :class:`CaptureError` with their code."""
    try:
        return build()
    except ValidationError as error:
        raise CaptureError(str(error), code=error.code) from None
