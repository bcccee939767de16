"""Admission of batch ingests in one worker: a bounded number run at once, a bounded
number wait for a slot in arrival order for a bounded time, and the rest are refused
with ``503 overloaded`` + ``Retry-After`` (decision D4 in ``docs/decisions.md``).

Lives on the event loop: waiting costs a future, not a thread, so requests waiting here
do not starve the thread pool that runs the hub's other routes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType

from central_hub.errors import Overloaded

__all__ = ["IngestGate"]


class IngestGate:
    """At most ``limit`` ingests at once. The next ``max_waiting`` wait up to
    ``wait_seconds`` each, first come first served: a freed slot passes straight to the
    oldest waiter, so a newcomer never overtakes one already waiting. Anyone else, and a
    waiter whose time runs out, gets :class:`~central_hub.errors.Overloaded`.

    Use as ``async with gate:``; only from one event loop's thread (no locks needed)."""

    def __init__(self, limit: int, *, wait_seconds: float, max_waiting: int) -> None:
        self._limit = limit
        self._wait_seconds = wait_seconds
        self._max_waiting = max_waiting
        self._running = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    async def __aenter__(self) -> None:
        if self._running < self._limit and not self._waiters:
            self._running += 1
            return
        if self._wait_seconds <= 0 or len(self._waiters) >= self._max_waiting:
            raise _overloaded()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        expiry = loop.call_later(self._wait_seconds, self._expire, waiter)
        try:
            admitted = await waiter  # True: a slot was handed over; False: time ran out
        except asyncio.CancelledError:
            self._forget(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._release()  # handed a slot just as the request was cancelled
            raise
        finally:
            expiry.cancel()
        if not admitted:
            raise _overloaded()

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the slot changes hands; _running stays
                return
        self._running -= 1

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)
        self._forget(waiter)

    def _forget(self, waiter: asyncio.Future[bool]) -> None:
        with contextlib.suppress(ValueError):  # already handed a slot, or forgotten
            self._waiters.remove(waiter)


def _overloaded() -> Overloaded:
    return Overloaded("overloaded", "the hub is busy ingesting; retry shortly")
