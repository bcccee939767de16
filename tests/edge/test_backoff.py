"""Retry timing for the sync loop: jitter bounds, the cap, Retry-After handling and
parsing, with an injected fake clock (edge_node.backoff, in-process unit tests)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_node.backoff import Backoff, BackoffPolicy, parse_retry_after

POLICY = BackoffPolicy()
NOW_UTC = dt.datetime(2025, 3, 1, 9, 0, 0, tzinfo=dt.UTC)


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.seconds = start

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


def make_backoff(policy: BackoffPolicy = POLICY, seed: int = 7) -> tuple[Backoff, FakeClock]:
    clock = FakeClock()
    return Backoff(policy, clock, random.Random(seed)), clock


# --- BackoffPolicy -------------------------------------------------------------------


def test_defaults() -> None:
    assert (POLICY.base_seconds, POLICY.cap_seconds, POLICY.multiplier) == (2.0, 600.0, 2.0)


def test_no_failures_means_no_delay() -> None:
    assert POLICY.delay_seconds(0, random.Random(1)) == 0.0


@pytest.mark.parametrize("failures", range(1, 16))
def test_jittered_delays_stay_within_bounds(failures: int) -> None:
    rng = random.Random(failures)
    ceiling = min(600.0, 2.0 * 2 ** (failures - 1))
    delays = [POLICY.delay_seconds(failures, rng) for _ in range(2000)]
    assert all(0.0 <= delay <= ceiling for delay in delays)
    # Full jitter spreads over the whole range, not just near the top.
    assert min(delays) < ceiling * 0.05
    assert max(delays) > ceiling * 0.95


def test_upper_bound_grows_exponentially_then_stops_at_the_cap() -> None:
    bounds = [POLICY.max_delay_seconds(n) for n in range(1, 13)]
    assert bounds == [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 600.0, 600.0, 600.0]


@pytest.mark.parametrize("failures", [1_000, 10**6, 10**18, 10**400])
def test_huge_failure_counts_do_not_overflow(failures: int) -> None:
    assert POLICY.max_delay_seconds(failures) == 600.0
    assert 0.0 <= POLICY.delay_seconds(failures, random.Random(3)) <= 600.0


def test_multiplier_close_to_one_with_huge_failures_reaches_the_cap() -> None:
    policy = BackoffPolicy(base_seconds=1.0, cap_seconds=60.0, multiplier=1.000001)
    assert policy.max_delay_seconds(10**400) == 60.0


def test_multiplier_one_is_a_constant_delay() -> None:
    policy = BackoffPolicy(base_seconds=5.0, cap_seconds=60.0, multiplier=1.0)
    assert [policy.max_delay_seconds(n) for n in (1, 2, 50)] == [5.0, 5.0, 5.0]


def test_base_above_cap_is_capped() -> None:
    assert BackoffPolicy(base_seconds=10.0, cap_seconds=3.0).max_delay_seconds(1) == 3.0


def test_negative_failures_are_rejected() -> None:
    with pytest.raises(ValueError, match="failures"):
        POLICY.delay_seconds(-1, random.Random(1))


@pytest.mark.parametrize(
    "fields",
    [
        {"base_seconds": -1.0},
        {"cap_seconds": float("inf")},
        {"cap_seconds": float("nan")},
        {"multiplier": 0.5},
    ],
)
def test_invalid_policies_are_rejected(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**fields)


def test_same_seed_gives_the_same_schedule() -> None:
    def schedule(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [POLICY.delay_seconds(n, rng) for n in range(1, 13)]

    first = schedule(2025)
    assert first == schedule(2025)
    assert first != schedule(2026)
    for failures, delay in enumerate(first, start=1):
        assert 0.0 <= delay <= POLICY.max_delay_seconds(failures)


# --- Backoff with a fake clock -------------------------------------------------------


def test_new_backoff_is_ready_at_once() -> None:
    backoff, _ = make_backoff()
    assert backoff.ready()
    assert backoff.failures == 0
    assert backoff.seconds_until_ready() == 0.0


def test_not_ready_until_the_scheduled_time_then_ready() -> None:
    backoff, clock = make_backoff(BackoffPolicy(base_seconds=10.0, cap_seconds=10.0))
    delay = backoff.record_failure()
    assert backoff.failures == 1
    assert 0.0 <= delay <= 10.0
    assert backoff.next_attempt_at == clock.seconds + delay
    assert backoff.seconds_until_ready() == pytest.approx(delay)
    if delay > 0:
        assert not backoff.ready()
        clock.advance(delay / 2)
        assert not backoff.ready()
        assert backoff.seconds_until_ready() == pytest.approx(delay / 2)
    clock.advance(backoff.next_attempt_at - clock.seconds)
    assert backoff.ready()
    assert backoff.seconds_until_ready() == 0.0
    clock.advance(1.0)
    assert backoff.ready()


def test_failures_accumulate_and_success_resets() -> None:
    backoff, clock = make_backoff()
    for _ in range(5):
        backoff.record_failure()
    assert backoff.failures == 5
    backoff.record_success()
    assert backoff.failures == 0
    assert backoff.ready()
    assert backoff.next_attempt_at == clock.seconds


def test_never_gives_up() -> None:
    backoff, clock = make_backoff()
    for _ in range(10_000):
        delay = backoff.record_failure()
        assert 0.0 <= delay <= POLICY.cap_seconds
        clock.advance(delay)
        assert backoff.ready()
    assert backoff.failures == 10_000


def test_retry_after_is_a_floor() -> None:
    backoff, clock = make_backoff()  # first failure: jitter at most 2 s
    start = clock.seconds
    delay = backoff.record_failure(retry_after_seconds=120.0)
    assert delay == 120.0
    assert backoff.next_attempt_at >= start + 120.0
    clock.advance(119.0)
    assert not backoff.ready()
    clock.advance(1.0)
    assert backoff.ready()


def test_retry_after_shorter_than_the_jitter_does_not_shorten_it() -> None:
    policy = BackoffPolicy(base_seconds=100.0, cap_seconds=100.0)
    with_header, _ = make_backoff(policy, seed=11)
    without_header, _ = make_backoff(policy, seed=11)
    assert with_header.record_failure(retry_after_seconds=0.0) == without_header.record_failure()


@pytest.mark.parametrize("retry_after", [10.0**9, float("inf")])
def test_absurd_retry_after_is_clamped_to_twice_the_cap(retry_after: float) -> None:
    backoff, clock = make_backoff()
    start = clock.seconds
    assert backoff.record_failure(retry_after_seconds=retry_after) == 1200.0
    assert backoff.next_attempt_at == start + 1200.0


@pytest.mark.parametrize("retry_after", [-50.0, float("nan")])
def test_negative_or_nan_retry_after_leaves_the_jitter(retry_after: float) -> None:
    backoff, _ = make_backoff()
    delay = backoff.record_failure(retry_after_seconds=retry_after)
    assert 0.0 <= delay <= 2.0


# --- parse_retry_after ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 30\t", 30.0),
        ("007", 7.0),
        ("Sat, 01 Mar 2025 09:02:00 GMT", 120.0),  # future HTTP-date
        ("Sat, 01 Mar 2025 08:00:00 GMT", 0.0),  # past HTTP-date
        ("Sat, 01 Mar 2025 09:00:00 GMT", 0.0),  # exactly now
    ],
)
def test_parse_retry_after_valid(value: str, expected: float) -> None:
    assert parse_retry_after(value, now_utc=NOW_UTC) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "-5", "1.5", "soon", "12 seconds", "١٢٠", "²", "Sat, 99 Foo 2025", "0x10"],
)
def test_parse_retry_after_missing_or_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now_utc=NOW_UTC) is None


def test_parse_retry_after_huge_delay_saturates() -> None:
    parsed = parse_retry_after("9" * 5000, now_utc=NOW_UTC)
    assert parsed is not None
    assert parsed >= 10.0**10


def test_parse_retry_after_naive_now_is_utc() -> None:
    naive = NOW_UTC.replace(tzinfo=None)
    assert parse_retry_after("Sat, 01 Mar 2025 09:02:00 GMT", now_utc=naive) == 120.0


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises(value: str) -> None:
    parsed = parse_retry_after(value, now_utc=NOW_UTC)
    assert parsed is None or parsed >= 0.0
