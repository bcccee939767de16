"""Unit and property tests of the hybrid logical clock (sync_protocol.hlc)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_protocol import ClockError, HlcStamp, HybridClock, RecordError, tick_after
from tests.protocol.factories import NODE_A, NODE_B, T0_MS, hlc_stamps


class FakeClock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def test_ticks_are_strictly_increasing_when_wall_time_stands_still() -> None:
    clock = HybridClock(NODE_A, FakeClock(T0_MS))
    stamps = [clock.tick() for _ in range(5)]
    assert stamps == sorted(stamps)
    assert [s.counter for s in stamps] == [0, 1, 2, 3, 4]


@given(st.one_of(st.none(), hlc_stamps), st.integers(T0_MS - 5, T0_MS + 10**6 + 5))
def test_tick_after_is_a_clock_resumed_from_the_last_stamp(
    last: HlcStamp | None, physical_ms: int
) -> None:
    clock = HybridClock(NODE_A, FakeClock(physical_ms), last=last)
    expected = _outcome(clock.tick)
    assert _outcome(lambda: tick_after(last, NODE_A, physical_ms)) == expected


def _outcome(call: Callable[[], HlcStamp]) -> object:
    try:
        return call()
    except ClockError as error:
        return ("raises", str(error))


def test_ticks_follow_wall_time_and_reset_the_counter() -> None:
    wall = FakeClock(T0_MS)
    clock = HybridClock(NODE_A, wall)
    clock.tick()
    wall.now_ms += 5
    assert clock.tick() == HlcStamp(T0_MS + 5, 0, NODE_A)


def test_a_wall_clock_stepping_backwards_never_makes_time_go_backwards() -> None:
    wall = FakeClock(T0_MS)
    clock = HybridClock(NODE_A, wall)
    first = clock.tick()
    wall.now_ms -= 3_600_000  # NTP steps the clock back an hour
    assert clock.tick() > first


def test_observing_a_remote_stamp_orders_later_local_events_after_it() -> None:
    clock = HybridClock(NODE_A, FakeClock(T0_MS))
    remote = HlcStamp(T0_MS + 50, 7, NODE_B)
    merged = clock.observe(remote)
    assert merged == HlcStamp(T0_MS + 50, 8, NODE_A)
    assert clock.tick() > remote


def test_a_remote_stamp_too_far_ahead_is_refused_and_leaves_the_clock_alone() -> None:
    clock = HybridClock(NODE_A, FakeClock(T0_MS), max_forward_ms=1000)
    before = clock.tick()
    with pytest.raises(ClockError, match="ahead"):
        clock.observe(HlcStamp(T0_MS + 5000, 0, NODE_B))
    assert clock.tick() == HlcStamp(before.wall_ms, before.counter + 1, NODE_A)


def test_restoring_from_the_last_persisted_stamp_continues_after_it() -> None:
    last = HlcStamp(T0_MS + 10_000, 3, NODE_A)
    clock = HybridClock(NODE_A, FakeClock(T0_MS), last=last)
    assert clock.tick() == HlcStamp(T0_MS + 10_000, 4, NODE_A)


def test_counter_exhaustion_is_an_error_not_a_wraparound() -> None:
    clock = HybridClock(NODE_A, FakeClock(T0_MS), last=HlcStamp(T0_MS, 99_999, NODE_A))
    with pytest.raises(ClockError, match="exhausted"):
        clock.tick()


def test_text_form_vector() -> None:
    stamp = HlcStamp(T0_MS, 42, NODE_A)
    assert stamp.encode() == "000001767225600000-00042-019b76da-a800-7000-8000-00000000000a"


@given(hlc_stamps)
def test_text_form_round_trips(stamp: HlcStamp) -> None:
    assert HlcStamp.decode(stamp.encode()) == stamp


@given(hlc_stamps, hlc_stamps)
def test_text_form_sorts_like_the_stamps(a: HlcStamp, b: HlcStamp) -> None:
    assert (a < b) == (a.encode() < b.encode())


@given(st.text(max_size=80))
def test_decoding_any_text_gives_a_stamp_or_a_typed_error(text: str) -> None:
    with contextlib.suppress(RecordError):
        HlcStamp.decode(text)


@pytest.mark.parametrize(
    "text",
    [
        "000001767225600000-00042-019B76DA-A800-7000-8000-00000000000A",
        "000001767225600000+00042-019b76da-a800-7000-8000-00000000000a",
        "00000176722560000٠-00042-019b76da-a800-7000-8000-00000000000a",
    ],
)
def test_non_canonical_text_is_rejected(text: str) -> None:
    with pytest.raises(RecordError):
        HlcStamp.decode(text)
