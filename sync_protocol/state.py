"""The current state of a transaction as a pure function of its set of events.

Edge and hub each hold some subset of a transaction's events; both compute the state from
them with the functions here, so once they hold the same set they show the same answer,
whatever order the events arrived in and however often each arrived.

A transaction has one lane per agency whose approval it needs (the one-stop promise:
several agencies decide in parallel, each only its own part) and a center lane (opened,
then delivered or cancelled). Each lane is decided by its event with the highest key
``(rank, hlc, event id)``, so a lane is a maximum over a set: order-independent,
idempotent. Ranks encode the workflow's one-way doors:

- agency lane: information requested or provided (1) < approved (2) < rejected (3): a
  decision is final, and a rejection beats a concurrent approval; between a request and
  its answer the later HLC wins, so each answer reopens the review;
- center lane: opened (0) < cancelled (4) < delivered (5): delivery is final.

The overall status follows from the lanes: delivered or cancelled if the center says so;
otherwise rejected as soon as one required agency rejects; approved when every required
agency approved; in review while any is pending; ``created`` when the service needs no
approval at all (ready to deliver).

A ``transaction.created`` of the previous release lists no agencies: its service's owning
agency (catalog ``agency_code``, passed in as ``legacy_agency``) decides it, and that
release's ``transaction.status`` approved/rejected/in_review events are that agency's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sync_protocol.payload import encode_json
from sync_protocol.records import (
    CREATED,
    DECISION,
    Record,
    TransactionCreated,
    TransactionDecision,
    TransactionStatus,
)
from sync_protocol.wire import record_to_dict

__all__ = [
    "CENTER_PRECEDENCE",
    "LANE_RANK",
    "LEGACY_LANE",
    "AgencyDecision",
    "Lane",
    "LaneState",
    "State",
    "Summary",
    "TransactionState",
    "center_status_of",
    "derive_state",
    "event_key",
    "fold_wire",
    "key_hlc",
    "lane_of",
    "lane_state",
    "merge_events",
    "overall_status",
    "required_of",
    "summarize",
]

State = Literal["unknown", "created", "in_review", "approved", "rejected", "cancelled", "delivered"]
LaneState = Literal["pending", "info_requested", "approved", "rejected"]

CENTER_PRECEDENCE: Final[dict[str, int]] = {"created": 0, "cancelled": 4, "delivered": 5}
# What an event weighs in its agency's lane: the decision (or, for the previous release's
# transaction.status, the status) names the rank.
LANE_RANK: Final[dict[str, int]] = {
    "in_review": 1,
    "info_requested": 1,
    "info_provided": 1,
    "approved": 2,
    "rejected": 3,
}
# The lane of the previous release's agency statuses, until the owning agency is known.
LEGACY_LANE: Final = ""
_PENDING_OUTCOMES: Final = frozenset({"in_review", "info_provided"})
_CLOSED: Final = frozenset({"delivered", "cancelled"})
# A key is "rank|hlc|event_id": one digit, the 61-character stamp, the 36-character id.
_HLC: Final = slice(2, 63)
_EVENT_ID: Final = slice(64, 100)


def event_key(rank: int, hlc: str, event_id: str) -> str:
    """The sortable key of an event in its lane: compared as text, it orders by rank,
    then stamp (fixed width, so text order is stamp order), then event id."""
    return f"{rank}|{hlc}|{event_id}"


def key_hlc(key: str) -> str:
    """The stamp in an :func:`event_key`."""
    return key[_HLC]


_CENTER_STATUS_BY_RANK: Final = {str(rank): status for status, rank in CENTER_PRECEDENCE.items()}


def center_status_of(key: str) -> str:
    """The center lane's status (created, cancelled, delivered) its key names; '' for
    no key (as ``Summary.center_status`` holds it)."""
    return _CENTER_STATUS_BY_RANK.get(key[:1], "")


@dataclass(frozen=True, slots=True)
class Lane:
    """One agency's part of a transaction: the event that decides it, by key."""

    key: str
    outcome: str  # that event's decision, or the previous release's status
    at_ms: int  # that event's recorded_at_ms

    @property
    def state(self) -> LaneState:
        if self.outcome in _PENDING_OUTCOMES:
            return "pending"
        return self.outcome  # type: ignore[return-value]  # approved|rejected|info_requested

    @property
    def hlc(self) -> str:
        return key_hlc(self.key)

    @property
    def event_id(self) -> str:
        return self.key[_EVENT_ID]


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything the state depends on, folded from events one at a time in any order
    (:func:`fold_wire`). Stores keep it as columns and rows; the state is computed from
    it by :func:`overall_status` and :func:`lane_of`."""

    service_code: str | None = None
    recorded_at_ms: int | None = None  # the opening event's; None until it is here
    required: tuple[str, ...] | None = None  # None: previous release's form, or not here
    center_key: str = ""
    center_status: str = ""  # created, cancelled or delivered: the center lane's event
    lanes: Mapping[str, Lane] = field(default_factory=dict)
    latest_hlc: str = ""  # the latest stamp of any event: a new event is stamped after it

    @property
    def opened(self) -> bool:
        """The opening ``transaction.created`` is among the folded events."""
        return self.recorded_at_ms is not None


def fold_wire(summary: Summary, wire: Mapping[str, Any]) -> Summary:
    """``summary`` with one more event, given in its wire form (``record_to_dict``)."""
    hlc: str = wire["hlc"]
    kind = wire["type"]
    latest = hlc if hlc > summary.latest_hlc else summary.latest_hlc
    if kind == CREATED:
        agencies = wire.get("required_agencies")
        return _center(
            summary,
            "created",
            event_key(0, hlc, wire["event_id"]),
            latest,
            service_code=wire["service_code"],
            recorded_at_ms=wire["recorded_at_ms"],
            required=None if agencies is None else tuple(agencies),
        )
    if kind == DECISION:
        agency, outcome = wire["agency_code"], wire["decision"]
    else:
        outcome = wire["status"]
        if outcome in CENTER_PRECEDENCE:
            key = event_key(CENTER_PRECEDENCE[outcome], hlc, wire["event_id"])
            return _center(summary, outcome, key, latest)
        agency = LEGACY_LANE
    key = event_key(LANE_RANK[outcome], hlc, wire["event_id"])
    held = summary.lanes.get(agency)
    if held is not None and held.key >= key:
        return _with_latest(summary, latest)
    lanes = dict(summary.lanes)
    lanes[agency] = Lane(key, outcome, wire["recorded_at_ms"])
    return Summary(
        summary.service_code,
        summary.recorded_at_ms,
        summary.required,
        summary.center_key,
        summary.center_status,
        lanes,
        latest,
    )


def _center(summary: Summary, status: str, key: str, latest: str, **opening: Any) -> Summary:
    if key <= summary.center_key:
        status, key = summary.center_status, summary.center_key
    return Summary(
        opening.get("service_code", summary.service_code),
        opening.get("recorded_at_ms", summary.recorded_at_ms),
        opening.get("required", summary.required),
        key,
        status,
        summary.lanes,
        latest,
    )


def _with_latest(summary: Summary, latest: str) -> Summary:
    if latest == summary.latest_hlc:
        return summary
    return Summary(
        summary.service_code,
        summary.recorded_at_ms,
        summary.required,
        summary.center_key,
        summary.center_status,
        summary.lanes,
        latest,
    )


def summarize(wires: Iterable[Mapping[str, Any]], start: Summary | None = None) -> Summary:
    """Fold every event in ``wires`` (wire forms, any order) into ``start``."""
    summary = start or Summary()
    for wire in wires:
        summary = fold_wire(summary, wire)
    return summary


def required_of(summary: Summary, legacy_agency: str | None) -> tuple[str, ...]:
    """The agencies whose approval the transaction needs. For a transaction of the
    previous release: its service's owner (``legacy_agency``), or the legacy lane itself
    while the owner is not known."""
    if not summary.opened:
        return ()
    if summary.required is not None:
        return summary.required
    return (legacy_agency or LEGACY_LANE,)


def lane_of(summary: Summary, agency: str, legacy_agency: str | None) -> Lane | None:
    """The lane of ``agency``, None while it has no event. In a transaction of the
    previous release the owner's lane includes that release's agency statuses."""
    lane = summary.lanes.get(agency)
    if summary.required is None and agency in (legacy_agency, LEGACY_LANE):
        legacy = summary.lanes.get(LEGACY_LANE)
        if legacy is not None and (lane is None or legacy.key > lane.key):
            lane = legacy
    return lane


def lane_state(lane: Lane | None) -> LaneState:
    return "pending" if lane is None else lane.state


def overall_status(summary: Summary, legacy_agency: str | None = None) -> State:
    """The transaction's status from its summary (see the module docstring)."""
    if summary.center_status in _CLOSED:
        return summary.center_status  # type: ignore[return-value]
    if not summary.opened:
        return "unknown"
    required = required_of(summary, legacy_agency)
    if not required:
        return "created"
    states = [lane_state(lane_of(summary, agency, legacy_agency)) for agency in required]
    if "rejected" in states:
        return "rejected"
    if all(state == "approved" for state in states):
        return "approved"
    return "in_review"


# --- the reference: state from a set of records ------------------------------------------


@dataclass(frozen=True, slots=True)
class AgencyDecision:
    """Where one required agency's part stands, and the event that put it there."""

    agency_code: str
    state: LaneState
    event: TransactionDecision | TransactionStatus | None


@dataclass(frozen=True, slots=True)
class TransactionState:
    """What a transaction looks like given the events known so far.

    ``created`` is ``None`` while only later events have arrived (the opening event is
    still in flight). ``decisions`` has one entry per required agency, in code order.
    ``deciding_event`` is the event that gave ``status`` (the rejection, the last
    approval, the delivery, ...). ``history`` is every event in causal (HLC) order.
    """

    transaction_id: uuid.UUID
    status: State
    created: TransactionCreated | None
    required_agencies: tuple[str, ...]
    decisions: tuple[AgencyDecision, ...]
    deciding_event: Record | None
    history: tuple[Record, ...]

    @property
    def rejected_by(self) -> AgencyDecision | None:
        """The agency whose rejection decided the transaction, if one did."""
        if self.status != "rejected":
            return None
        return next((d for d in self.decisions if d.event is self.deciding_event), None)


def _canonical_key(record: Record) -> bytes:
    # Two different records with one event id should never exist; if they do, picking the
    # smaller canonical JSON keeps the result independent of arrival order, portably.
    return encode_json(record_to_dict(record))


def merge_events(*sets: Iterable[Record]) -> dict[uuid.UUID, Record]:
    """Set union on event id: idempotent, commutative and associative."""
    merged: dict[uuid.UUID, Record] = {}
    for events in sets:
        for record in events:
            held = merged.get(record.event_id)
            if held is None or (held != record and _canonical_key(record) < _canonical_key(held)):
                merged[record.event_id] = record
    return merged


def derive_state(
    transaction_id: uuid.UUID, events: Iterable[Record], legacy_agency: str | None = None
) -> TransactionState:
    """Compute the state of ``transaction_id`` from any collection of events.

    Events of other transactions are ignored, duplicates count once. With no events at
    all the status is ``"unknown"``. ``legacy_agency``: the catalog owner of the
    transaction's service, which decides a transaction of the previous release."""
    mine = [
        record
        for record in merge_events(events).values()
        if record.transaction_id == transaction_id
    ]
    by_id = {str(record.event_id): record for record in mine}
    summary = summarize(record_to_dict(record) for record in mine)
    history = tuple(sorted(mine, key=lambda r: (r.hlc, r.event_id)))
    created = next((r for r in history if isinstance(r, TransactionCreated)), None)
    required = required_of(summary, legacy_agency)
    lanes = {agency: lane_of(summary, agency, legacy_agency) for agency in required}
    decisions = tuple(
        AgencyDecision(
            agency,
            lane_state(lane),
            None if lane is None else by_id[lane.event_id],  # type: ignore[arg-type]
        )
        for agency, lane in sorted(lanes.items())
    )
    status = overall_status(summary, legacy_agency)
    deciding: Record | None = None
    if status in _CLOSED or status == "created":
        deciding = by_id.get(summary.center_key[_EVENT_ID])
    elif status in ("rejected", "approved"):
        wanted = status
        keys = [lane.key for lane in lanes.values() if lane is not None and lane.state == wanted]
        deciding = by_id[max(keys)[_EVENT_ID]]
    elif status == "in_review":
        deciding = created
    return TransactionState(
        transaction_id=transaction_id,
        status=status,
        created=created,
        required_agencies=required,
        decisions=decisions,
        deciding_event=deciding,
        history=history,
    )
