"""An agency's desk at the hub: its queue of transactions waiting on its decision, one
transaction's parts, the decision itself, and how fast agencies decide. The API routes,
the CLI and (next) the agency's web page call these same functions.

An agency token is bound to one agency (``central-hub token create --role agency
--agency CODE``): it sees and decides only that agency's part, and the decision's actor
is the token's holder, never a value the caller sends.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any, Final

from central_hub.errors import BadRequest, Conflict, HubError, NotFound, workflow_problem
from central_hub.storage.interface import DecisionReplay, Store
from central_hub.storage.lanes import split_agencies
from sync_protocol import (
    DECISIONS,
    ClockError,
    HlcStamp,
    HybridClock,
    TransactionDecision,
    ValidationError,
    WorkflowError,
    check_agency_decision,
    new_transaction_decision,
    new_uuid7,
    tick_after,
)
from sync_protocol.state import Summary, lane_of, lane_state, overall_status, required_of
from sync_protocol.workflow import AGENCY_DECISIONS

__all__ = [
    "MAX_PAGE",
    "approval_report",
    "decide",
    "queue_page",
    "transaction_for_agency",
]

MAX_PAGE: Final = 500
_MS_PER_DAY: Final = 86_400_000


# --- the queue -----------------------------------------------------------------------------


def _parse_after(text: str | None) -> tuple[int, str] | None:
    """A queue cursor, ``<waiting since ms>.<transaction id>``, as the store compares it."""
    if text is None:
        return None
    since, _, txn = text.partition(".")
    try:
        return int(since), str(uuid.UUID(txn))
    except ValueError:
        raise BadRequest(
            "invalid_cursor", "after must be the next cursor of the previous page"
        ) from None


def queue_page(
    store: Store,
    agency_code: str,
    *,
    center_id: str | None = None,
    service_code: str | None = None,
    after: str | None = None,
    limit: int = 50,
    now_ms: int,
) -> dict[str, Any]:
    """One page of the transactions waiting on ``agency_code``, oldest wait first, each
    with every required agency's state (so the officer sees who else is deciding)."""
    rows = store.agency_queue(
        agency_code,
        center_id=center_id,
        service_code=service_code,
        after=_parse_after(after),
        limit=min(limit, MAX_PAGE) + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    lanes = store.lanes_of([row["transaction_id"] for row in page])
    items = [
        {
            "transaction_id": row["transaction_id"],
            "center_id": row["center_id"],
            "service_code": row["service_code"],
            "fee_piasters": row["fee_piasters"],
            "recorded_at_ms": row["requested_at_ms"],
            "waiting_since_ms": row["queue_since_ms"],
            "waiting_seconds": max(0, (now_ms - row["queue_since_ms"]) // 1000),
            # Back in the queue because the center answered this agency's request.
            "center_answered": row["outcome"] == "info_provided",
            "approvals": [
                {"agency_code": agency, "state": state}
                for agency, state in lanes[row["transaction_id"]]
            ],
        }
        for row in page
    ]
    last = page[-1] if page else None
    return {
        "agency_code": agency_code,
        "transactions": items,
        "has_more": more,
        "next": f"{last['queue_since_ms']}.{last['transaction_id']}" if more and last else None,
    }


# --- one transaction -----------------------------------------------------------------------


def transaction_for_agency(
    store: Store, agency_code: str, transaction_id: uuid.UUID
) -> dict[str, Any]:
    """What ``agency_code`` may see of a transaction that needs it: service, center, fee,
    times, status, every part's state and the decision events (no citizen PII)."""
    view = store.transaction_view(transaction_id)
    if view is None:
        raise NotFound("unknown_transaction", "no transaction with this id has reached the hub")
    row = view["transaction"]
    required = split_agencies(row["required_agencies"])
    if required is None:  # the previous release's: its service's owner decides it
        owner = store.owner_of(row["service_code"])
        required = (owner,) if owner else ()
    if agency_code not in required:
        raise workflow_problem(
            WorkflowError("wrong_agency", f"this transaction does not need agency {agency_code}")
        )
    lanes = {lane["agency_code"]: lane for lane in view["lanes"]}
    # Another agency's notes (and the center's answers to it) are not this agency's to
    # read: they may name the citizen. Its state is in ``approvals``.
    events = [
        event
        for event in view["events"]
        if event["type"] != "transaction.decision" or event["agency_code"] == agency_code
    ]
    return {
        "transaction_id": row["transaction_id"],
        "center_id": row["center_id"],
        "service_code": row["service_code"],
        "fee_piasters": row["fee_piasters"],
        "recorded_at_ms": row["recorded_at_ms"],
        "status": row["status"],
        "approvals": [
            {
                "agency_code": agency,
                "state": lanes[agency]["state"] if agency in lanes else "pending",
                "decided_at_ms": lanes[agency]["decided_at_ms"] if agency in lanes else None,
            }
            for agency in required
        ],
        "events": events,
    }


# --- deciding ------------------------------------------------------------------------------


def _stamp_after(clock: HybridClock, latest: str, now_ms: int) -> HlcStamp:
    """The hub's next stamp, after every event of the transaction: a center's answer may
    carry a stamp ahead of the hub's clock, and the lane is decided by stamp order."""
    stamp = clock.tick()
    if not latest or stamp.encode() > latest:
        return stamp
    seen = HlcStamp.decode(latest)
    try:
        return clock.observe(seen)
    except ClockError:  # over a day ahead: do not drag the hub's clock, just pass it
        return tick_after(seen, stamp.node_id, now_ms)


def decide(
    store: Store,
    clock: HybridClock,
    *,
    agency_code: str,
    actor_id: str,
    transaction_id: uuid.UUID,
    decision: str,
    reason_code: str,
    note: str,
    idempotency_key: str,
    now_ms: int,
) -> tuple[dict[str, Any], bool]:
    """Record ``agency_code``'s decision on its part of a transaction, once per
    ``idempotency_key``: a resent request gets the first answer (and ``True``). Refused
    decisions raise a problem with the workflow's code and write nothing."""
    if decision not in DECISIONS:  # info_provided is one, but the center's (403 below)
        raise BadRequest(
            "invalid_decision", f"decision must be one of {', '.join(AGENCY_DECISIONS)}"
        )
    request = {
        "transaction_id": str(transaction_id),
        "decision": decision,
        "reason_code": reason_code,
        "note": note,
    }

    def make(center_id: str, summary: Summary) -> TransactionDecision:
        owner = store.owner_of(summary.service_code)
        check_agency_decision(summary, agency_code, decision, owner)
        return new_transaction_decision(
            event_id=new_uuid7(now_ms),
            hlc=_stamp_after(clock, summary.latest_hlc, now_ms),
            center_id=center_id,
            transaction_id=transaction_id,
            agency_code=agency_code,
            decision=decision,
            reason_code=reason_code,
            note=note,
            actor_id=actor_id,
            recorded_at_ms=now_ms,
        )

    def answer(record: TransactionDecision, after: Summary) -> dict[str, Any]:
        owner = store.owner_of(after.service_code)
        return {
            "event_id": str(record.event_id),
            "transaction_id": str(transaction_id),
            "agency_code": agency_code,
            "decision": record.decision,
            "reason_code": record.reason_code,
            "status": overall_status(after, owner),
            "approvals": _parts(after, owner),
        }

    try:
        return store.decide(
            transaction_id=transaction_id,
            agency_code=agency_code,
            idempotency_key=idempotency_key,
            request=request,
            now_ms=now_ms,
            make=make,
            answer=answer,
        )
    except WorkflowError as error:
        raise workflow_problem(error) from None
    except ValidationError as error:
        raise BadRequest(error.code, str(error)) from None
    except DecisionReplay:
        raise Conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different decision",
            hint="send a new key for a new decision; resend a request with its own key",
        ) from None


def _parts(summary: Summary, owner: str | None) -> list[dict[str, str]]:
    return [
        {"agency_code": agency, "state": lane_state(lane_of(summary, agency, owner))}
        for agency in required_of(summary, owner)
    ]


# --- how fast agencies decide --------------------------------------------------------------


def _percentile(ordered: Sequence[int], fraction: float) -> int | None:
    """Nearest-rank percentile of sorted values; None for none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def approval_report(
    store: Store, *, agency_code: str | None, days: int, now_ms: int
) -> dict[str, Any]:
    """Per agency (one, or every agency with work): decisions in the last ``days`` and
    their time from recording to decision (median, p90), and per center how many
    transactions wait on it and how many wait on the center's answer."""
    since = now_ms - days * _MS_PER_DAY
    counts = store.approval_counts()
    agencies = (
        [agency_code]
        if agency_code is not None
        else sorted({c["agency_code"] for c in counts} | set(store.decided_agencies(since)))
    )
    catalog = store.current_catalog()
    report = []
    for agency in agencies:
        times = store.decision_times(agency, since)
        ordered = sorted(ms for _, ms in times)
        centers = [c for c in counts if c["agency_code"] == agency]
        named = catalog.agency(agency) if catalog is not None else None
        report.append(
            {
                "agency_code": agency,
                "name_ar": named.name_ar if named else None,
                "name_en": named.name_en if named else None,
                "decided": len(times),
                "approved": sum(1 for outcome, _ in times if outcome == "approved"),
                "rejected": sum(1 for outcome, _ in times if outcome == "rejected"),
                "median_decision_seconds": _seconds(_percentile(ordered, 0.5)),
                "p90_decision_seconds": _seconds(_percentile(ordered, 0.9)),
                "waiting": sum(c["waiting"] for c in centers),
                "info_requested": sum(c["info_requested"] for c in centers),
                "oldest_waiting_seconds": _oldest(centers, now_ms),
                "centers": [
                    {
                        "center_id": c["center_id"],
                        "waiting": c["waiting"],
                        "info_requested": c["info_requested"],
                        "oldest_waiting_seconds": _oldest([c], now_ms),
                    }
                    for c in centers
                ],
            }
        )
    return {"days": days, "since_ms": since, "agencies": report}


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def _oldest(centers: Sequence[dict[str, Any]], now_ms: int) -> int | None:
    starts = [c["oldest_since_ms"] for c in centers if c["oldest_since_ms"] is not None]
    return None if not starts else max(0, (now_ms - min(starts)) // 1000)


def agency_known(store: Store, agency_code: str) -> HubError | None:
    """None if the current catalog lists ``agency_code``; else the problem to raise."""
    catalog = store.current_catalog()
    if catalog is not None and catalog.agency(agency_code) is not None:
        return None
    return BadRequest("unknown_agency", f"the catalog lists no agency {agency_code}")
