"""Unit and property tests of the transaction state function (sync_protocol.state): lanes
per agency, the overall status, the previous release's records, and merge laws."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import Record, derive_state, merge_events, record_to_dict, summarize
from sync_protocol.state import LEGACY_LANE, overall_status
from tests.protocol.factories import (
    AGENCY_CODES,
    NODE_A,
    NODE_B,
    T0_MS,
    created,
    decision,
    decision_records,
    status,
    status_records,
)

THREE = ("civil-defense", "health", "local-unit")
TXN = created(service="LIC-SHOP", agencies=THREE)
ID = TXN.transaction_id


def _approve(agency: str, at: int = 10) -> Record:
    return decision(ID, agency, "approved", wall_ms=T0_MS + at)


def test_a_service_without_approvals_is_open_at_once() -> None:
    opened = created(agencies=())
    state = derive_state(opened.transaction_id, [opened])
    assert (state.status, state.required_agencies, state.decisions) == ("created", (), ())
    assert state.deciding_event == opened


def test_a_transaction_waits_for_every_required_agency() -> None:
    state = derive_state(ID, [TXN, _approve("health")])
    assert state.status == "in_review"
    assert [(d.agency_code, d.state) for d in state.decisions] == [
        ("civil-defense", "pending"),
        ("health", "approved"),
        ("local-unit", "pending"),
    ]


def test_approved_when_all_approve_decided_by_the_last_approval() -> None:
    last = _approve("local-unit", at=30)
    state = derive_state(ID, [TXN, _approve("health"), _approve("civil-defense", 20), last])
    assert (state.status, state.deciding_event) == ("approved", last)


def test_rejected_as_soon_as_one_agency_rejects_naming_it_and_why() -> None:
    refusal = decision(ID, "civil-defense", "rejected", reason="inspection_failed")
    state = derive_state(ID, [TXN, _approve("health"), refusal])
    assert state.status == "rejected"
    assert state.rejected_by is not None
    assert (state.rejected_by.agency_code, state.rejected_by.event) == ("civil-defense", refusal)
    assert refusal.reason_code == "inspection_failed"


def test_an_information_request_and_its_answer_reopen_the_review() -> None:
    asked = decision(ID, "health", "info_requested", wall_ms=T0_MS + 10)
    answered = decision(ID, "health", "info_provided", node=NODE_A, wall_ms=T0_MS + 20)
    asked_again = decision(ID, "health", "info_requested", wall_ms=T0_MS + 30)
    lane = {d.agency_code: d.state for d in derive_state(ID, [TXN, asked]).decisions}
    assert lane["health"] == "info_requested"
    lane = {d.agency_code: d.state for d in derive_state(ID, [TXN, asked, answered]).decisions}
    assert lane["health"] == "pending"
    state = derive_state(ID, [TXN, asked, answered, asked_again])
    assert {d.agency_code: d.state for d in state.decisions}["health"] == "info_requested"
    assert state.status == "in_review"


def test_a_decision_is_final_over_a_later_information_event() -> None:
    approved = decision(ID, "health", "approved", wall_ms=T0_MS + 10)
    late_answer = decision(ID, "health", "info_provided", node=NODE_A, wall_ms=T0_MS + 99)
    state = derive_state(ID, [TXN, approved, late_answer])
    assert {d.agency_code: d.state for d in state.decisions}["health"] == "approved"


def test_a_rejection_beats_a_concurrent_later_approval_of_the_same_agency() -> None:
    rejected = decision(ID, "health", "rejected", node=NODE_A, wall_ms=T0_MS + 10)
    approved = decision(ID, "health", "approved", node=NODE_B, wall_ms=T0_MS + 99)
    assert derive_state(ID, [TXN, approved, rejected]).status == "rejected"


def test_equal_stamps_of_one_agency_are_broken_by_node_then_event_id() -> None:
    on_a = decision(ID, "health", "info_requested", node=NODE_A, wall_ms=T0_MS + 10)
    on_b = decision(ID, "health", "info_provided", node=NODE_B, wall_ms=T0_MS + 10)
    for events in ([TXN, on_a, on_b], [on_b, TXN, on_a]):
        lane = {d.agency_code: d.event for d in derive_state(ID, events).decisions}
        assert lane["health"] == on_b


def test_delivery_is_final_and_beats_a_cancellation() -> None:
    opened = created(agencies=())
    delivered = status(opened.transaction_id, "delivered", wall_ms=T0_MS + 10)
    cancelled = status(opened.transaction_id, "cancelled", wall_ms=T0_MS + 20)
    state = derive_state(opened.transaction_id, [opened, cancelled, delivered])
    assert (state.status, state.deciding_event) == ("delivered", delivered)


def test_a_cancellation_closes_a_transaction_under_review() -> None:
    cancelled = status(ID, "cancelled", wall_ms=T0_MS + 50)
    assert derive_state(ID, [TXN, _approve("health"), cancelled]).status == "cancelled"


def test_a_decision_of_an_agency_the_service_does_not_need_is_not_counted() -> None:
    stray = decision(ID, "passports", "rejected")
    state = derive_state(ID, [TXN, stray])
    assert state.status == "in_review"
    assert "passports" not in {d.agency_code for d in state.decisions}


def test_events_before_the_opening_event_give_an_unknown_state_until_it_arrives() -> None:
    early = [_approve(agency) for agency in THREE]
    assert derive_state(ID, early).status == "unknown"
    assert derive_state(ID, [*early, TXN]).status == "approved"


def test_a_previous_release_transaction_is_decided_by_its_services_owner() -> None:
    legacy = created(service="PAS-RENEW", agencies=None)
    txn = legacy.transaction_id
    review = status(txn, "in_review", wall_ms=T0_MS + 5)
    approved = status(txn, "approved", wall_ms=T0_MS + 9)
    state = derive_state(txn, [legacy, review], legacy_agency="passports")
    assert (state.status, state.required_agencies) == ("in_review", ("passports",))
    state = derive_state(txn, [legacy, review, approved], legacy_agency="passports")
    assert (state.status, state.decisions[0].event) == ("approved", approved)
    # The owner may also decide it with this release's decision records.
    new_way = decision(txn, "passports", "rejected", wall_ms=T0_MS + 20)
    assert derive_state(txn, [legacy, new_way], legacy_agency="passports").status == "rejected"
    # With the owner unknown the old statuses still decide, in a lane of their own.
    state = derive_state(txn, [legacy, approved])
    assert (state.status, state.required_agencies) == ("approved", (LEGACY_LANE,))


def test_the_previous_releases_agency_statuses_do_not_decide_this_releases_transactions() -> None:
    assert derive_state(ID, [TXN, status(ID, "approved")], "health").status == "in_review"


def test_history_is_in_hlc_order_and_other_transactions_are_ignored() -> None:
    other = created()
    first = decision(ID, "health", "info_requested", wall_ms=T0_MS + 5)
    second = _approve("local-unit", at=9)
    state = derive_state(ID, [second, other, first, TXN])
    assert state.history == (TXN, first, second)


def test_unknown_transaction_has_no_events() -> None:
    state = derive_state(uuid.UUID(int=0), [TXN])
    assert (state.status, state.history, state.deciding_event) == ("unknown", (), None)


# --- properties ---------------------------------------------------------------------------

_TXN_IDS = st.sampled_from([ID, created().transaction_id])
_events = st.lists(
    st.one_of(
        st.just(TXN),
        status_records(_TXN_IDS),
        decision_records(_TXN_IDS),
        st.builds(_approve, st.sampled_from(AGENCY_CODES + THREE)),
    ),
    max_size=14,
)
_legacy = st.sampled_from([None, "health", "passports"])


def _summary(events: list[Record], legacy: str | None) -> tuple[object, ...]:
    state = derive_state(ID, events, legacy)
    return (state.status, state.created, state.decisions, state.deciding_event, state.history)


@given(_events, st.randoms(use_true_random=False), _legacy)
def test_state_is_independent_of_event_order(
    events: list[Record], rng: object, legacy: str | None
) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _summary(shuffled, legacy) == _summary(events, legacy)


@given(_events, st.data(), _legacy)
def test_state_is_unchanged_by_duplicated_events(
    events: list[Record], data: st.DataObject, legacy: str | None
) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    assert _summary(events + duplicates, legacy) == _summary(events, legacy)


@given(_events, st.randoms(use_true_random=False), _legacy)
def test_folding_one_event_at_a_time_in_any_order_gives_the_same_summary(
    events: list[Record], rng: object, legacy: str | None
) -> None:
    mine = [record_to_dict(record) for record in merge_events(events).values()]
    shuffled = list(mine)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    folded = summarize(shuffled)
    assert folded == summarize(mine)
    # Folded in two parts (what a store does: its rows, then the new events) too.
    half = len(shuffled) // 2
    assert summarize(shuffled[half:], summarize(shuffled[:half])) == folded
    merged = merge_events(events).values()
    only_mine = [record for record in merged if record.transaction_id == ID]
    assert overall_status(summarize(record_to_dict(r) for r in only_mine), legacy) == (
        derive_state(ID, events, legacy).status
    )


@given(_events, _events, _events)
def test_merge_is_commutative_associative_and_idempotent(
    a: list[Record], b: list[Record], c: list[Record]
) -> None:
    assert merge_events(a, b) == merge_events(b, a)
    assert merge_events(merge_events(a, b).values(), c) == merge_events(
        a, merge_events(b, c).values()
    )
    assert merge_events(a, a) == merge_events(a)
