"""Retry timing for the sync loop: capped exponential backoff with full jitter.

"Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter") draws each delay
uniformly from ``[0, min(cap, base * multiplier ** (failures - 1))]``, which spreads the
retries of many centers that lost the link at the same moment. A hub's ``Retry-After`` is
honoured as a floor, clamped so a broken header cannot stall a center for days. The loop
never gives up: a center offline for two weeks keeps retrying at the cap.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["Backoff", "BackoffPolicy", "parse_retry_after"]

# A Retry-After longer than this many caps is treated as broken and shortened to it.
_RETRY_AFTER_CAP_FACTOR: Final = 2.0
# Delay-seconds with more digits than this (over 31 years) saturate instead of being
# converted, which also keeps int() away from its 4300-digit limit.
_MAX_DELAY_DIGITS: Final = 10


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How long to wait after consecutive failures; all times in seconds."""

    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        for name in ("base_seconds", "cap_seconds", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")

    def max_delay_seconds(self, failures: int) -> float:
        """The upper bound of the jittered delay after ``failures`` consecutive failures."""
        if failures < 0:
            raise ValueError(f"failures must be >= 0, got {failures!r}")
        if failures == 0:
            return 0.0
        base = float(self.base_seconds)
        cap = float(self.cap_seconds)
        if base == 0 or base >= cap:
            return min(base, cap)
        multiplier = float(self.multiplier)
        if multiplier == 1:
            return base
        # Compare the exponent before computing the power: multiplier ** huge overflows
        # a float (and as an int would take unbounded time and memory).
        steps_to_cap = math.log(cap / base) / math.log(multiplier)
        exponent = failures - 1
        if exponent >= steps_to_cap:
            return cap
        return min(cap, base * multiplier**exponent)

    def delay_seconds(self, failures: int, rng: random.Random) -> float:
        """A full-jitter delay: uniform in ``[0, max_delay_seconds(failures)]``."""
        ceiling = self.max_delay_seconds(failures)
        if ceiling == 0:
            return 0.0
        return rng.uniform(0.0, ceiling)


class Backoff:
    """The retry state of one sync loop: consecutive failures and when to try next.

    ``now`` is a monotonic clock in seconds (``time.monotonic`` in production, a fake in
    tests). A new ``Backoff`` is ready at once.
    """

    def __init__(self, policy: BackoffPolicy, now: Callable[[], float], rng: random.Random) -> None:
        self._policy = policy
        self._now = now
        self._rng = rng
        self._failures = 0
        self._next_attempt_at = now()

    def __repr__(self) -> str:
        return (
            f"Backoff(failures={self._failures}, next_attempt_at={self._next_attempt_at!r}, "
            f"policy={self._policy!r})"
        )

    @property
    def policy(self) -> BackoffPolicy:
        return self._policy

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success."""
        return self._failures

    @property
    def next_attempt_at(self) -> float:
        """Clock reading (``now`` seconds) at or after which the next attempt may run."""
        return self._next_attempt_at

    def record_success(self) -> None:
        """Reset the failure count; the next attempt may run at once."""
        self._failures = 0
        self._next_attempt_at = self._now()

    def record_failure(self, retry_after_seconds: float | None = None) -> float:
        """Count a failure and schedule the next attempt; return the delay chosen.

        The delay is the jittered backoff, raised to ``retry_after_seconds`` if the server
        asked for longer. That floor is clamped to ``[0, 2 * cap_seconds]``; a NaN is
        ignored.
        """
        self._failures += 1
        delay = self._policy.delay_seconds(self._failures, self._rng)
        floor = self._clamp_retry_after(retry_after_seconds)
        if floor is not None:
            delay = max(delay, floor)
        self._next_attempt_at = self._now() + delay
        return delay

    def ready(self) -> bool:
        """Whether the next attempt may run now."""
        return self._now() >= self._next_attempt_at

    def seconds_until_ready(self) -> float:
        """Seconds to wait before the next attempt; 0 if it may run now."""
        return max(0.0, self._next_attempt_at - self._now())

    def _clamp_retry_after(self, retry_after_seconds: float | None) -> float | None:
        if retry_after_seconds is None or math.isnan(retry_after_seconds):
            return None
        longest = float(self._policy.cap_seconds) * _RETRY_AFTER_CAP_FACTOR
        return min(max(float(retry_after_seconds), 0.0), longest)


def parse_retry_after(value: str | None, *, now_utc: dt.datetime) -> float | None:
    """Seconds to wait from an RFC 9110 ``Retry-After`` value, or None if absent or invalid.

    The value is either delay-seconds (a non-negative decimal integer) or an HTTP-date;
    a date in the past gives 0. Never raises on any ``value``. A naive ``now_utc`` (or a
    date with zone ``-0000``) is taken as UTC.
    """
    if not isinstance(value, str):
        return None
    text = value.strip(" \t")
    if not text:
        return None
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0")
        if len(digits) > _MAX_DELAY_DIGITS:
            return float(10**_MAX_DELAY_DIGITS)
        return float(int(digits or "0"))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if now_utc.tzinfo is None:
        now_utc = now_utc.replace(tzinfo=dt.UTC)
    try:
        seconds = (when - now_utc).total_seconds()
    except OverflowError:
        return None
    return max(0.0, seconds)
