"""Unit tests of the one-stop workflow rules (sync_protocol.workflow): what a center may
record and an agency may decide, with a stable code for every refusal."""

from __future__ import annotations

from typing import Any

import pytest

from sync_protocol import (
    Record,
    WorkflowError,
    check_agency_decision,
    check_center_event,
    record_to_dict,
    summarize,
)
from sync_protocol.errors import WORKFLOW_CODES
from tests.protocol.factories import NODE_A, T0_MS, created, decision, status

THREE = ("civil-defense", "health", "local-unit")
TXN = created(service="LIC-SHOP", agencies=THREE)
ID = TXN.transaction_id


def _summary(*events: Record) -> Any:
    return summarize(record_to_dict(event) for event in events)


def _refused(code: str) -> _Raises:
    assert code in WORKFLOW_CODES
    return _Raises(code)


class _Raises:
    """``pytest.raises(WorkflowError)`` that also checks the error's code."""

    def __init__(self, code: str) -> None:
        self.code = code
        self._inner = pytest.raises(WorkflowError)

    def __enter__(self) -> object:
        return self._inner.__enter__()

    def __exit__(self, *exc: object) -> bool:
        handled = self._inner.__exit__(*exc)  # type: ignore[arg-type]
        assert exc[1] is not None and exc[1].code == self.code, exc[1]  # type: ignore[attr-defined]
        return bool(handled)


def _approved(*agencies: str) -> list[Record]:
    return [decision(ID, agency, "approved", wall_ms=T0_MS + 10) for agency in agencies]


def _center(kind: str, agency: str = "health", at: int = 100) -> dict[str, object]:
    """The wire form of an event made at the center: a status, else a decision."""
    if kind in ("delivered", "cancelled", "in_review"):
        return record_to_dict(status(ID, kind, node=NODE_A, wall_ms=T0_MS + at))
    return record_to_dict(decision(ID, agency, kind, node=NODE_A, wall_ms=T0_MS + at))


# --- the center ---------------------------------------------------------------------------


def test_a_center_delivers_only_once_every_agency_approved() -> None:
    with _refused("not_approved") as caught:
        check_center_event(_summary(TXN, *_approved("health")), _center("delivered"))
    assert "civil-defense, local-unit" in str(caught.value)  # type: ignore[attr-defined]
    check_center_event(_summary(TXN, *_approved(*THREE)), _center("delivered"))


def test_a_service_without_approvals_is_delivered_at_once() -> None:
    opened = created(agencies=())
    wire = record_to_dict(status(opened.transaction_id, "delivered", wall_ms=T0_MS + 5))
    check_center_event(_summary(opened), wire)


def test_nothing_after_delivery_or_cancellation() -> None:
    delivered = status(ID, "delivered", wall_ms=T0_MS + 50)
    closed = _summary(TXN, *_approved(*THREE), delivered)
    for kind in ("delivered", "cancelled"):
        with _refused("transaction_closed"):
            check_center_event(closed, _center(kind))
    with _refused("transaction_closed"):
        check_agency_decision(_summary(TXN, status(ID, "cancelled")), "health", "approved")


def test_a_center_answers_only_an_open_information_request_of_a_required_agency() -> None:
    asked = decision(ID, "health", "info_requested", wall_ms=T0_MS + 10)
    check_center_event(_summary(TXN, asked), _center("info_provided"))
    with _refused("no_information_requested"):
        check_center_event(_summary(TXN), _center("info_provided"))
    with _refused("wrong_agency"):
        check_center_event(_summary(TXN, asked), _center("info_provided", agency="passports"))


def test_a_center_never_decides_an_agencys_part() -> None:
    for kind in ("approved", "rejected", "info_requested"):
        with _refused("decision_not_allowed"):
            check_center_event(_summary(TXN), _center(kind))
    with _refused("decision_not_allowed"):
        check_center_event(_summary(TXN), _center("in_review"))  # the previous release's way


def test_an_unknown_transaction_is_refused() -> None:
    with _refused("unknown_transaction"):
        check_center_event(_summary(), _center("cancelled"))
    with _refused("unknown_transaction"):
        check_agency_decision(_summary(), "health", "approved")


def test_at_the_hub_a_center_event_is_judged_as_of_its_own_stamp() -> None:
    # Offline, the center answered the request at +100; the hub holds the request (+10).
    asked = decision(ID, "health", "info_requested", wall_ms=T0_MS + 10)
    answer = _center("info_provided", at=100)
    check_center_event(_summary(TXN, asked), answer, as_of=str(answer["hlc"]))
    # An approval stamped after the delivery does not make that delivery legitimate.
    late = [decision(ID, agency, "approved", wall_ms=T0_MS + 200) for agency in THREE]
    delivered = _center("delivered", at=100)
    with _refused("not_approved"):
        check_center_event(_summary(TXN, *late), delivered, as_of=str(delivered["hlc"]))
    # A rejection the center could not have seen yet does not refuse its cancellation.
    rejected = decision(ID, "health", "rejected", wall_ms=T0_MS + 300)
    cancelled = _center("cancelled", at=100)
    check_center_event(_summary(TXN, rejected), cancelled, as_of=str(cancelled["hlc"]))


# --- the agency ---------------------------------------------------------------------------


def test_an_agency_decides_only_its_own_part_while_it_waits() -> None:
    check_agency_decision(_summary(TXN), "health", "approved")
    with _refused("wrong_agency"):
        check_agency_decision(_summary(TXN), "passports", "approved")
    with _refused("already_decided"):
        check_agency_decision(_summary(TXN, *_approved("health")), "health", "rejected")
    asked = decision(ID, "health", "info_requested", wall_ms=T0_MS + 10)
    with _refused("awaiting_information"):
        check_agency_decision(_summary(TXN, asked), "health", "approved")
    answered = decision(ID, "health", "info_provided", node=NODE_A, wall_ms=T0_MS + 20)
    check_agency_decision(_summary(TXN, asked, answered), "health", "approved")


def test_once_one_agency_rejects_the_others_have_nothing_to_decide() -> None:
    rejected = decision(ID, "health", "rejected")
    with _refused("transaction_closed"):
        check_agency_decision(_summary(TXN, rejected), "civil-defense", "approved")


def test_an_agency_never_answers_for_the_center() -> None:
    with _refused("decision_not_allowed"):
        check_agency_decision(_summary(TXN), "health", "info_provided")


def test_a_previous_release_transaction_is_decided_by_its_owner_only() -> None:
    legacy = created(service="PAS-RENEW", agencies=None)
    summary = _summary(legacy)
    check_agency_decision(summary, "passports", "approved", legacy_agency="passports")
    with _refused("wrong_agency"):
        check_agency_decision(summary, "health", "approved", legacy_agency="passports")
    wire = record_to_dict(status(legacy.transaction_id, "delivered", wall_ms=T0_MS + 9))
    with _refused("not_approved"):
        check_center_event(summary, wire, legacy_agency="passports")
