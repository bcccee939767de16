"""The hub's projection of a transaction, both ways: a :class:`~sync_protocol.state.Summary`
from its ``transactions`` row and ``approvals`` rows, and those rows from a summary.

The summary is what the protocol's state function folds (``sync_protocol.state``); the
rows keep exactly what it needs (raw lane keys) plus what the agency queue and the
reports read (each lane's state, how long it has waited, when it was decided), derived
on every write so that they can be indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sync_protocol.state import (
    Lane,
    Summary,
    center_status_of,
    lane_of,
    lane_state,
    overall_status,
    required_of,
)

__all__ = [
    "join_agencies",
    "lane_rows",
    "split_agencies",
    "summary_from_rows",
    "transaction_values",
]


def join_agencies(agencies: tuple[str, ...] | None) -> str | None:
    return None if agencies is None else ",".join(agencies)


def split_agencies(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(text.split(",")) if text else ()


def summary_from_rows(
    transaction: Mapping[str, Any] | None, lanes: Iterable[Mapping[str, Any]]
) -> Summary:
    """The summary a transaction's stored rows hold (an empty one for no row)."""
    if transaction is None:
        return Summary()
    key: str = transaction["status_key"]
    return Summary(
        service_code=transaction["service_code"],
        recorded_at_ms=transaction["recorded_at_ms"],
        required=split_agencies(transaction["required_agencies"]),
        center_key=key,
        center_status=center_status_of(key),
        lanes={
            row["agency_code"]: Lane(row["lane_key"], row["outcome"], row["at_ms"])
            for row in lanes
            if row["lane_key"]
        },
        latest_hlc=transaction["latest_hlc"] or "",
    )


def transaction_values(summary: Summary, owner: str | None) -> dict[str, Any]:
    """The ``transactions`` columns ``summary`` decides (besides the opening event's fee
    and center); ``owner`` is the service's owning agency (decides a previous-release
    transaction)."""
    return {
        "service_code": summary.service_code,
        "recorded_at_ms": summary.recorded_at_ms,
        "required_agencies": join_agencies(summary.required),
        "status": overall_status(summary, owner),
        "status_key": summary.center_key,
        "latest_hlc": summary.latest_hlc,
    }


def lane_rows(
    transaction_id: str,
    center_id: str,
    summary: Summary,
    owner: str | None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """The ``approvals`` rows of a transaction: every lane with an event, and every
    required agency. A required lane is in its agency's queue while it is pending and
    the transaction is in review: since it was recorded, or since the center's answer
    to an information request. ``status``: ``overall_status`` of the summary, if the
    caller has it."""
    status = status or overall_status(summary, owner)
    required = set(required_of(summary, owner))
    rows = []
    for agency in sorted(required | set(summary.lanes)):
        own = summary.lanes.get(agency)
        seen = lane_of(summary, agency, owner) if agency in required else own
        state = lane_state(seen)
        waiting = agency in required and state == "pending" and status == "in_review"
        decided = agency in required and state in ("approved", "rejected")
        recorded = summary.recorded_at_ms
        rows.append(
            {
                "transaction_id": transaction_id,
                "agency_code": agency,
                "center_id": center_id,
                "service_code": summary.service_code,
                "required": agency in required,
                "state": state,
                "lane_key": "" if own is None else own.key,
                "outcome": "" if own is None else own.outcome,
                "at_ms": None if own is None else own.at_ms,
                "requested_at_ms": recorded,
                "queue_since_ms": (seen.at_ms if seen is not None else recorded)
                if waiting
                else None,
                "decided_at_ms": seen.at_ms if decided and seen is not None else None,
                "decision_ms": seen.at_ms - recorded
                if decided and seen is not None and recorded is not None
                else None,
            }
        )
    return rows
