"""Reading transactions back for staff: by id (with where each required agency's approval
stands), by national ID through the blind index (the national ID itself is never stored
in clear, so it cannot be searched directly), and the open information requests the
center has to answer."""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any, Final

from edge_node.catalog import newest_catalog
from edge_node.events import load_event
from edge_node.pii import PiiCipher
from edge_node.projection import decode_required, legacy_owner, load_summary
from edge_node.store import Store
from sync_protocol import (
    Catalog,
    TransactionCreated,
    TransactionDecision,
    TransactionStatus,
)
from sync_protocol.state import Lane, Summary, lane_of, lane_state, required_of

__all__ = [
    "MAX_RESULTS",
    "find_by_national_id",
    "get_transaction",
    "open_information_requests",
]

# The national ID and name are read from the opening event's encrypted body (its event id
# is the transaction id), the one place they are kept at rest.
_SELECT = (
    "SELECT t.transaction_id, t.service_code, t.fee_piasters, e.body_ct, t.status, "
    "t.recorded_at_ms, t.updated_at_ms FROM transactions t "
    "LEFT JOIN events e ON e.event_id = t.transaction_id"
)
MAX_RESULTS: Final = 200


def _opening(pii: PiiCipher, txn: str, body_ct: bytes | None) -> TransactionCreated | None:
    if body_ct is None:  # only status events arrived so far; the opening event is in flight
        return None
    record = load_event(pii, txn, body_ct)
    return record if isinstance(record, TransactionCreated) else None


def _as_dict(pii: PiiCipher, row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
    txn, service, fee, body_ct, status, recorded, updated = row
    opening = _opening(pii, txn, body_ct)
    return {
        "transaction_id": txn,
        "service_code": service,
        "fee_piasters": fee,
        "national_id": None if opening is None else opening.national_id,
        "citizen_name": None if opening is None else opening.citizen_name,
        "status": status,
        "recorded_at_ms": recorded,
        "updated_at_ms": updated,
    }


def get_transaction(
    store: Store, pii: PiiCipher, transaction_id: uuid.UUID
) -> dict[str, Any] | None:
    """One transaction for staff, with ``required_agencies`` (for a transaction of the
    previous release: its service's owner; None while its opening event is not here) and
    ``approvals``, one entry per required agency (see :func:`_approval`)."""
    txn = str(transaction_id)
    row = store.connection.execute(f"{_SELECT} WHERE t.transaction_id = ?", (txn,)).fetchone()
    if row is None:
        return None
    found = _as_dict(pii, row)
    summary = load_summary(store.connection, txn) or Summary()
    catalog = newest_catalog(store)
    owner = legacy_owner(summary, None if catalog is None else catalog.owner_of)
    found["required_agencies"] = list(required_of(summary, owner)) if summary.opened else None
    found["approvals"] = [
        _approval(store, pii, catalog, agency, lane_of(summary, agency, owner))
        for agency in required_of(summary, owner)
    ]
    found["history"] = _history(store, pii, txn)
    return found


_HISTORY = "SELECT event_id, body_ct FROM events WHERE transaction_id = ? ORDER BY hlc, event_id"


def _history(store: Store, pii: PiiCipher, txn: str) -> list[dict[str, Any]]:
    """Every event of the transaction in causal (stamp) order: what was asked and
    answered stays visible after the agency decided. The opening event shows who
    recorded it (its citizen data is in the transaction itself)."""
    entries = []
    for event_id, body_ct in store.connection.execute(_HISTORY, (txn,)):
        record = load_event(pii, event_id, body_ct)
        entry: dict[str, Any] = {"at_ms": record.recorded_at_ms, "agency_code": None}
        if isinstance(record, TransactionCreated):
            entry |= {"event": "opened", "actor_id": record.staff_id, "note": ""}
        elif isinstance(record, TransactionDecision):
            entry |= {
                "event": record.decision,
                "agency_code": record.agency_code,
                "reason_code": record.reason_code,
                "actor_id": record.actor_id,
                "note": record.note,
            }
        else:
            entry |= {"event": record.status, "actor_id": record.actor_id, "note": record.note}
        entries.append(entry)
    return entries


def _approval(
    store: Store, pii: PiiCipher, catalog: Catalog | None, agency: str, lane: Lane | None
) -> dict[str, Any]:
    """Where ``agency``'s part stands (pending / info_requested / approved / rejected) and
    the event that put it there: its outcome (``info_provided`` for a review reopened by
    the center's answer), time, reason code, note and actor. The agency code is '' for a
    transaction of the previous release whose service the catalog does not know."""
    named = None if catalog is None else catalog.agency(agency)
    entry: dict[str, Any] = {
        "agency_code": agency,
        "name_ar": None if named is None else named.name_ar,
        "name_en": None if named is None else named.name_en,
        "state": lane_state(lane),
        "outcome": None,
        "at_ms": None,
        "reason_code": None,
        "note": None,
        "actor_id": None,
        "event_id": None,
    }
    if lane is None:
        return entry
    entry |= {"outcome": lane.outcome, "at_ms": lane.at_ms, "event_id": lane.event_id}
    event = _event(store, pii, lane.event_id)
    if isinstance(event, TransactionDecision):
        entry |= {"reason_code": event.reason_code, "note": event.note, "actor_id": event.actor_id}
    elif isinstance(event, TransactionStatus):  # the previous release's agency status
        entry |= {"reason_code": "", "note": event.note, "actor_id": event.actor_id}
    return entry


def _event(store: Store, pii: PiiCipher, event_id: str) -> object:
    row = store.connection.execute(
        "SELECT body_ct FROM events WHERE event_id = ?", (event_id,)
    ).fetchone()
    return None if row is None else load_event(pii, event_id, row[0])


def find_by_national_id(store: Store, pii: PiiCipher, national_id: str) -> list[dict[str, Any]]:
    """The citizen's transactions at this center, newest first (at most 200)."""
    rows = store.connection.execute(
        f"{_SELECT} WHERE t.national_id_index = ? ORDER BY t.recorded_at_ms DESC LIMIT ?",
        (pii.blind_index(national_id.strip()), MAX_RESULTS),
    ).fetchall()
    return [_as_dict(pii, row) for row in rows]


# Lanes whose latest event is an agency's information request, on transactions still in
# review, oldest request first: the partial index holds exactly the first condition.
_CANDIDATES = """
    SELECT a.transaction_id, a.agency_code, a.lane_key, a.at_ms, t.service_code,
           t.required_agencies
    FROM approvals a JOIN transactions t USING (transaction_id)
    WHERE a.outcome = 'info_requested' AND t.status = 'in_review'
    ORDER BY a.at_ms, a.transaction_id, a.agency_code
"""


def open_information_requests(
    store: Store, pii: PiiCipher | None, *, limit: int | None = MAX_RESULTS
) -> list[dict[str, Any]]:
    """The agencies' information requests this center has yet to answer, oldest first (at
    most ``limit``; None: all). Each: transaction id, service, agency (code and names),
    reason code and what is asked (``note``; both None without ``pii``: nothing is
    decrypted, e.g. to count), since when (``requested_at_ms``), and the request's
    ``event_id``."""
    catalog = newest_catalog(store)
    found: list[dict[str, Any]] = []
    for txn, agency, key, at_ms, service, required in store.connection.execute(_CANDIDATES):
        if limit is not None and len(found) >= limit:
            break
        if not _still_open(store, catalog, txn, agency, decode_required(required)):
            continue
        named = None if catalog is None else catalog.agency(agency)
        entry: dict[str, Any] = {
            "transaction_id": txn,
            "service_code": service,
            "agency_code": agency,
            "name_ar": None if named is None else named.name_ar,
            "name_en": None if named is None else named.name_en,
            "reason_code": None,
            "note": None,
            "requested_at_ms": at_ms,
            "event_id": Lane(key, "info_requested", at_ms).event_id,
        }
        if pii is not None:
            event = _event(store, pii, entry["event_id"])
            if isinstance(event, TransactionDecision):
                entry |= {"reason_code": event.reason_code, "note": event.note}
        found.append(entry)
    return found


def _still_open(
    store: Store,
    catalog: Catalog | None,
    txn: str,
    agency: str,
    required: tuple[str, ...] | None,
) -> bool:
    """The request is one the state function counts: the agency is required, and (for a
    previous-release transaction) no legacy status of its owner outranks it."""
    if required is not None:
        return agency in required
    summary = load_summary(store.connection, txn) or Summary()
    owner = legacy_owner(summary, None if catalog is None else catalog.owner_of)
    return agency in required_of(summary, owner) and (
        lane_state(lane_of(summary, agency, owner)) == "info_requested"
    )
