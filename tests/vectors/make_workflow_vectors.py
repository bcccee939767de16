"""Build the one-stop approval vectors, ``tests/vectors/workflow_v1.json``: the records of
this release in canonical JSON (a ``transaction.created`` that lists the agencies it
needs, each kind of ``transaction.decision``), a story told one event at a time with the
state the state function gives after each, the previous release's form decided by its
service's owner, the workflow's refusals with their codes, and a change set carrying a
decision (feed format 2).

Run from the repository root::

    .venv/bin/python tests/vectors/make_workflow_vectors.py          # refuses to overwrite
    .venv/bin/python tests/vectors/make_workflow_vectors.py --force  # regenerate

Everything is deterministic (no keys, no sealing): regenerating gives a byte-identical
file, and any diff means the records, the state function or the rules changed.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from sync_protocol import (
    HlcStamp,
    Record,
    WorkflowError,
    check_agency_decision,
    check_center_event,
    derive_state,
    encode_json,
    new_transaction_created,
    new_transaction_decision,
    new_transaction_status,
    record_to_dict,
    summarize,
)
from sync_protocol.changes import DecisionChange, change_to_dict

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "workflow_v1.json"
CENTER_NODE = uuid.UUID("019b76da-a800-7000-8000-00000000000a")
HUB_NODE = uuid.UUID("019b76da-a800-7000-8000-0000000000ff")
T0_MS = 1_767_250_800_000  # 2026-01-01T07:00:00Z, 09:00 in Cairo
AGENCIES = ("civil-defense", "health", "local-unit")


def _id(at_ms: int, serial: int) -> uuid.UUID:
    """A UUIDv7 at ``at_ms`` whose random bits are ``serial``: deterministic."""
    return uuid.UUID(int=(at_ms << 80) | (0x7 << 76) | (0b10 << 62) | serial)


def _opening(serial: int, agencies: tuple[str, ...] | None, service: str) -> Record:
    at = T0_MS + serial
    return new_transaction_created(
        event_id=_id(at, serial),
        hlc=HlcStamp(at, 0, CENTER_NODE),
        center_id="sharm-el-sheikh",
        service_code=service,
        national_id="29001013400011",
        citizen_name="كريم عادل السيد",
        fee_piasters=100_000,
        staff_id="clerk-3",
        recorded_at_ms=at,
        required_agencies=agencies,
    )


def _decision(
    txn: uuid.UUID, serial: int, agency: str, decision: str, node: uuid.UUID, **text: str
) -> Record:
    at = T0_MS + serial * 60_000
    return new_transaction_decision(
        event_id=_id(at, serial),
        hlc=HlcStamp(at, 0, node),
        center_id="sharm-el-sheikh",
        transaction_id=txn,
        agency_code=agency,
        decision=decision,
        reason_code=text.get("reason", ""),
        note=text.get("note", ""),
        actor_id=text.get("actor", f"{agency}-desk" if node == HUB_NODE else "clerk-3"),
        recorded_at_ms=at,
    )


def _status(txn: uuid.UUID, serial: int, status: str, node: uuid.UUID = CENTER_NODE) -> Record:
    at = T0_MS + serial * 60_000
    return new_transaction_status(
        event_id=_id(at, serial),
        hlc=HlcStamp(at, 0, node),
        center_id="sharm-el-sheikh",
        transaction_id=txn,
        status=status,
        actor_id="clerk-3" if node == CENTER_NODE else "agency-old",
        recorded_at_ms=at,
    )


def _state(txn: uuid.UUID, events: list[Record], legacy_agency: str | None) -> dict[str, Any]:
    state = derive_state(txn, events, legacy_agency)
    return {
        "status": state.status,
        "required_agencies": list(state.required_agencies),
        "decisions": {
            decision.agency_code: {
                "state": decision.state,
                "event_id": None if decision.event is None else str(decision.event.event_id),
            }
            for decision in state.decisions
        },
        "deciding_event_id": None
        if state.deciding_event is None
        else str(state.deciding_event.event_id),
    }


def _story() -> tuple[list[Record], list[dict[str, Any]]]:
    """A shop licence at Sharm El-Sheikh: three agencies, an information request."""
    opening = _opening(1, AGENCIES, "LIC-SHOP")
    txn = opening.transaction_id
    events = [
        opening,
        _decision(txn, 2, "civil-defense", "approved", HUB_NODE, note="المعاينة مطابقة"),
        _decision(txn, 3, "health", "approved", HUB_NODE),
        _decision(
            txn,
            4,
            "local-unit",
            "info_requested",
            HUB_NODE,
            reason="missing_document",
            note="صورة عقد إيجار المحل موثقة",
        ),
        _decision(txn, 5, "local-unit", "info_provided", CENTER_NODE, note="أرفق العقد الموثق"),
        _decision(txn, 6, "local-unit", "approved", HUB_NODE),
        _status(txn, 7, "delivered"),
    ]
    steps = [
        {
            "events": [str(e.event_id) for e in events[: n + 1]],
            "state": _state(txn, events[: n + 1], None),
        }
        for n in range(len(events))
    ]
    return events, steps


def _refusals(events: list[Record]) -> list[dict[str, Any]]:
    """What the rules refuse at points of the story, with the code each gives."""
    txn = events[0].transaction_id
    cases: list[dict[str, Any]] = []

    def center(upto: int, record: Record, why: str) -> None:
        summary = summarize(record_to_dict(e) for e in events[:upto])
        try:
            check_center_event(summary, record_to_dict(record))
            code = None
        except WorkflowError as error:
            code = error.code
        cases.append(
            {
                "maker": "center",
                "after_events": upto,
                "record": record_to_dict(record),
                "code": code,
                "why": why,
            }
        )

    def agency(upto: int, code_of: str, decision: str, why: str, *extra: Record) -> None:
        summary = summarize(record_to_dict(e) for e in [*events[:upto], *extra])
        try:
            check_agency_decision(summary, code_of, decision)
            code = None
        except WorkflowError as error:
            code = error.code
        cases.append(
            {
                "maker": "agency",
                "after_events": upto,
                "and_then": [record_to_dict(e) for e in extra],
                "agency_code": code_of,
                "decision": decision,
                "code": code,
                "why": why,
            }
        )

    center(3, _status(txn, 8, "delivered"), "one agency has not decided yet")
    center(6, _status(txn, 8, "delivered"), "every agency approved")
    center(1, _decision(txn, 8, "health", "info_provided", CENTER_NODE, note="x"), "nobody asked")
    center(1, _decision(txn, 8, "health", "approved", CENTER_NODE), "a center never decides")
    center(7, _status(txn, 8, "cancelled"), "delivered is final")
    agency(1, "passports", "approved", "the service does not need this agency")
    agency(2, "civil-defense", "rejected", "decided already")
    agency(4, "local-unit", "approved", "waiting for the center's answer")
    agency(5, "local-unit", "approved", "the center answered: the review reopened")
    cancelled = _status(txn, 9, "cancelled")
    agency(3, "local-unit", "approved", "nothing is decided after cancellation", cancelled)
    agency(7, "local-unit", "approved", "its part is approved already")
    return cases


def _previous_release() -> dict[str, Any]:
    """A transaction of the previous release: no agencies listed, agency statuses."""
    opening = _opening(20, None, "PAS-RENEW")
    txn = opening.transaction_id
    events = [
        opening,
        _status(txn, 21, "in_review", HUB_NODE),
        _status(txn, 22, "approved", HUB_NODE),
    ]
    return {
        "legacy_agency": "passports",
        "records": [record_to_dict(e) for e in events],
        "state": _state(txn, events, "passports"),
    }


def build() -> dict[str, Any]:
    events, steps = _story()
    change = DecisionChange(cursor=42, record=events[3])  # type: ignore[arg-type]
    return {
        "description": "one-stop approvals: records, states and rules; see docs/protocol.md",
        "records": [
            {"wire": record_to_dict(e), "canonical_json": encode_json(record_to_dict(e)).decode()}
            for e in events
        ],
        "story": steps,
        "refusals": _refusals(events),
        "previous_release": _previous_release(),
        "decision_change": {
            "change": change_to_dict(change),
            "payload_text": encode_json(
                {"changes": [change_to_dict(change)], "cursor": 42, "has_more": False}
            ).decode(),
        },
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        print(f"{args.output} exists; pass --force to overwrite", file=sys.stderr)
        return 1
    args.output.write_text(render(build()), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
