"""Unit and property tests of the transaction state function (sync_protocol.state)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import Record, derive_state, merge_events
from tests.protocol.factories import NODE_A, NODE_B, T0_MS, created, status, status_records

TXN = created()


def test_a_new_transaction_is_created() -> None:
    state = derive_state(TXN.transaction_id, [TXN])
    assert (state.status, state.created) == ("created", TXN)


def test_status_events_before_the_opening_event_still_give_a_state() -> None:
    approval = status(TXN.transaction_id, "approved")
    state = derive_state(TXN.transaction_id, [approval])
    assert (state.status, state.created) == ("approved", None)


def test_later_hlc_wins_within_one_precedence_level() -> None:
    first = status(TXN.transaction_id, "in_review", wall_ms=T0_MS + 10)
    second = status(TXN.transaction_id, "in_review", wall_ms=T0_MS + 20)
    assert derive_state(TXN.transaction_id, [second, TXN, first]).deciding_event == second


def test_a_rejection_beats_a_concurrent_later_approval() -> None:
    rejected = status(TXN.transaction_id, "rejected", node=NODE_A, wall_ms=T0_MS + 10)
    approved = status(TXN.transaction_id, "approved", node=NODE_B, wall_ms=T0_MS + 99)
    assert derive_state(TXN.transaction_id, [TXN, approved, rejected]).status == "rejected"


def test_delivery_is_final() -> None:
    delivered = status(TXN.transaction_id, "delivered", wall_ms=T0_MS + 10)
    cancelled = status(TXN.transaction_id, "cancelled", wall_ms=T0_MS + 20)
    assert derive_state(TXN.transaction_id, [TXN, cancelled, delivered]).status == "delivered"


def test_equal_hlc_wall_and_counter_is_broken_by_node_id() -> None:
    on_a = status(TXN.transaction_id, "approved", node=NODE_A, wall_ms=T0_MS + 10)
    on_b = status(TXN.transaction_id, "approved", node=NODE_B, wall_ms=T0_MS + 10)
    assert derive_state(TXN.transaction_id, [on_b, on_a]).deciding_event == on_b
    assert derive_state(TXN.transaction_id, [on_a, on_b]).deciding_event == on_b


def test_history_is_in_hlc_order_and_other_transactions_are_ignored() -> None:
    other = created()
    review = status(TXN.transaction_id, "in_review", wall_ms=T0_MS + 5)
    approve = status(TXN.transaction_id, "approved", wall_ms=T0_MS + 9)
    state = derive_state(TXN.transaction_id, [approve, other, review, TXN])
    assert state.history == (TXN, review, approve)


_TXN_IDS = st.sampled_from([TXN.transaction_id, created().transaction_id])
_events = st.lists(st.one_of(st.just(TXN), status_records(_TXN_IDS)), max_size=12)


def _summary(events: list[Record]) -> tuple[object, ...]:
    state = derive_state(TXN.transaction_id, events)
    return (state.status, state.created, state.deciding_event, state.history)


@given(_events, st.randoms(use_true_random=False))
def test_state_is_independent_of_event_order(events: list[Record], rng: object) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _summary(shuffled) == _summary(events)


@given(_events, st.data())
def test_state_is_unchanged_by_duplicated_events(events: list[Record], data: st.DataObject) -> None:
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=6)) if events else []
    assert _summary(events + duplicates) == _summary(events)


@given(_events, _events, _events)
def test_merge_is_commutative_associative_and_idempotent(
    a: list[Record], b: list[Record], c: list[Record]
) -> None:
    assert merge_events(a, b) == merge_events(b, a)
    assert merge_events(merge_events(a, b).values(), c) == merge_events(
        a, merge_events(b, c).values()
    )
    assert merge_events(a, a) == merge_events(a)


def test_unknown_transaction_has_no_events() -> None:
    state = derive_state(uuid.UUID(int=0), [TXN])
    assert (state.status, state.history, state.deciding_event) == ("unknown", (), None)
