"""The one-stop workflow's rules: which event may be made on a transaction, and by whom.

One set of rules for everywhere an event is made or received: the center checks what its
staff record, the hub checks what an agency decides and, again, what a center's batch
brings. A refused event raises :class:`WorkflowError` with a stable code and nothing is
written.

- The center delivers only an approved transaction (or one whose service needs no
  approval), cancels only an open one, and answers an agency's information request
  (``info_provided``) only while that request is open.
- An agency decides only a transaction whose service lists it, only while its part waits
  for it: not twice, not while it waits for the center's answer, and not once the
  transaction is delivered, cancelled or rejected.
- A center never decides an agency's part; an agency never answers for the center.

At the hub a center's event is judged as of its own stamp (``as_of``): an agency may
have decided since the center recorded it offline, and that does not make it wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sync_protocol.errors import WorkflowError
from sync_protocol.records import CENTER_STATUSES, DECISION
from sync_protocol.state import Lane, Summary, key_hlc, lane_of, lane_state, required_of

__all__ = ["AGENCY_DECISIONS", "check_agency_decision", "check_center_event"]

# What an agency may decide; the fourth decision, info_provided, is the center's.
AGENCY_DECISIONS: Final = ("approved", "rejected", "info_requested")
_CLOSED: Final = frozenset({"delivered", "cancelled"})


def _counts(hlc: str, as_of: str | None) -> bool:
    """An event stamped ``hlc`` happened before the one being judged."""
    return as_of is None or hlc < as_of


def _closed_by_center(summary: Summary, as_of: str | None) -> bool:
    return summary.center_status in _CLOSED and _counts(key_hlc(summary.center_key), as_of)


def _lanes(
    summary: Summary, legacy_agency: str | None, as_of: str | None
) -> dict[str, Lane | None]:
    """Each required agency's lane, as of ``as_of`` as far as the summary can tell."""
    lanes: dict[str, Lane | None] = {}
    for agency in required_of(summary, legacy_agency):
        lane = lane_of(summary, agency, legacy_agency)
        lanes[agency] = lane if lane is not None and _counts(lane.hlc, as_of) else None
    return lanes


def check_center_event(
    summary: Summary,
    wire: Mapping[str, Any],
    legacy_agency: str | None = None,
    *,
    as_of: str | None = None,
) -> None:
    """Raise :class:`WorkflowError` unless a center may record ``wire`` (a status or
    decision record's wire form) on the transaction ``summary`` describes. ``as_of``
    (the event's own stamp) judges it by what happened before it; None: by everything."""
    if not summary.opened:
        raise WorkflowError("unknown_transaction", "no such transaction at this center")
    if wire["type"] == DECISION:
        _check_information(summary, wire, legacy_agency, as_of)
        return
    status = wire["status"]
    if status not in CENTER_STATUSES:
        raise WorkflowError(
            "decision_not_allowed",
            f"a center records delivered or cancelled, not {status}: agencies decide at the hub",
            field="status",
        )
    if _closed_by_center(summary, as_of):
        raise WorkflowError(
            "transaction_closed", f"the transaction is {summary.center_status} already"
        )
    if status == "delivered":
        states = {
            agency: lane_state(lane)
            for agency, lane in _lanes(summary, legacy_agency, as_of).items()
        }
        rejected = sorted(agency for agency, state in states.items() if state == "rejected")
        if rejected:
            raise WorkflowError("not_approved", f"rejected by: {', '.join(rejected)}")
        waiting = sorted(agency for agency, state in states.items() if state != "approved")
        if waiting:
            raise WorkflowError(
                "not_approved",
                f"not approved yet by: {', '.join(waiting)}; deliver once every agency "
                "has approved",
            )


def _check_information(
    summary: Summary, wire: Mapping[str, Any], legacy_agency: str | None, as_of: str | None
) -> None:
    agency, decision = wire["agency_code"], wire["decision"]
    if decision != "info_provided":
        raise WorkflowError(
            "decision_not_allowed",
            f"a center answers information requests; {decision} is the agency's decision",
            field="decision",
        )
    lanes = _lanes(summary, legacy_agency, as_of)
    if agency not in lanes:
        raise WorkflowError(
            "wrong_agency", f"this transaction does not need agency {agency}", field="agency"
        )
    if _closed_by_center(summary, as_of) or any(
        lane_state(lane) == "rejected" for lane in lanes.values()
    ):
        raise WorkflowError("transaction_closed", "the transaction is closed")
    if lane_state(lanes[agency]) != "info_requested":
        raise WorkflowError(
            "no_information_requested",
            f"agency {agency} has no open information request",
            field="agency",
        )


def check_agency_decision(
    summary: Summary, agency: str, decision: str, legacy_agency: str | None = None
) -> None:
    """Raise :class:`WorkflowError` unless ``agency`` may decide ``decision`` on the
    transaction ``summary`` describes now."""
    if not summary.opened:
        raise WorkflowError("unknown_transaction", "no such transaction has reached the hub")
    if decision not in AGENCY_DECISIONS:
        raise WorkflowError(
            "decision_not_allowed",
            f"an agency decides {', '.join(AGENCY_DECISIONS)}, not {decision}",
            field="decision",
        )
    lanes = _lanes(summary, legacy_agency, None)
    if agency not in lanes:
        raise WorkflowError(
            "wrong_agency", f"this transaction's service does not need agency {agency}"
        )
    mine = lane_state(lanes[agency])
    if mine in ("approved", "rejected"):
        raise WorkflowError("already_decided", f"agency {agency} has {mine} it already")
    if _closed_by_center(summary, None):
        raise WorkflowError(
            "transaction_closed", f"the transaction is {summary.center_status} already"
        )
    if any(lane_state(lane) == "rejected" for lane in lanes.values()):
        raise WorkflowError("transaction_closed", "another agency has rejected the transaction")
    if mine == "info_requested":
        raise WorkflowError(
            "awaiting_information",
            "the center has not answered this agency's information request yet",
        )
