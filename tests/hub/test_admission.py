"""The ingest gate on its own, on an asyncio loop: slots, the bounded FIFO wait, shedding."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from central_hub.api.admission import IngestGate
from central_hub.errors import Overloaded

LONG_WAIT_SECONDS = 60.0  # never reached: these tests release slots by hand


def _run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(test)


async def _hold(gate: IngestGate, release: asyncio.Event, log: list[str], name: str) -> None:
    async with gate:
        log.append(name)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):  # let every ready task run up to its next await
        await asyncio.sleep(0)


def test_waiters_get_freed_slots_in_arrival_order() -> None:
    async def scenario() -> None:
        gate = IngestGate(1, wait_seconds=LONG_WAIT_SECONDS, max_waiting=3)
        releases = [asyncio.Event() for _ in range(4)]
        log: list[str] = []
        tasks = []
        for index in range(4):
            tasks.append(asyncio.create_task(_hold(gate, releases[index], log, f"r{index}")))
            await _settle()
        assert (log, gate.running, gate.waiting) == (["r0"], 1, 3)
        for index in range(3):
            releases[index].set()
            await _settle()
            assert log == [f"r{i}" for i in range(index + 2)]
            assert gate.running == 1
        releases[3].set()
        await asyncio.gather(*tasks)
        assert (gate.running, gate.waiting) == (0, 0)

    _run(scenario())


def test_a_newcomer_does_not_overtake_a_waiter() -> None:
    async def scenario() -> None:
        gate = IngestGate(1, wait_seconds=LONG_WAIT_SECONDS, max_waiting=2)
        first, second, third = asyncio.Event(), asyncio.Event(), asyncio.Event()
        log: list[str] = []
        holder = asyncio.create_task(_hold(gate, first, log, "holder"))
        await _settle()
        waiter = asyncio.create_task(_hold(gate, second, log, "waiter"))
        await _settle()
        first.set()  # the slot passes to the waiter before any newcomer can run
        newcomer = asyncio.create_task(_hold(gate, third, log, "newcomer"))
        await _settle()
        assert log == ["holder", "waiter"]
        second.set()
        third.set()
        await asyncio.gather(holder, waiter, newcomer)
        assert log == ["holder", "waiter", "newcomer"]

    _run(scenario())


def test_beyond_the_waiting_room_requests_are_refused_at_once() -> None:
    async def scenario() -> None:
        gate = IngestGate(1, wait_seconds=LONG_WAIT_SECONDS, max_waiting=1)
        release = asyncio.Event()
        log: list[str] = []
        tasks = [asyncio.create_task(_hold(gate, release, log, name)) for name in ("a", "b")]
        await _settle()
        with pytest.raises(Overloaded):
            await gate.__aenter__()
        release.set()
        await asyncio.gather(*tasks)
        assert log == ["a", "b"]

    _run(scenario())


def test_a_waiter_whose_time_runs_out_is_refused_and_frees_its_place() -> None:
    async def scenario() -> None:
        gate = IngestGate(1, wait_seconds=0.01, max_waiting=1)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(gate, release, [], "holder"))
        await _settle()
        with pytest.raises(Overloaded):
            async with gate:
                pytest.fail("admitted while the only slot was held")
        assert (gate.running, gate.waiting) == (1, 0)
        release.set()
        await holder
        async with gate:  # the slot came back
            assert gate.running == 1

    _run(scenario())


def test_no_wait_configured_means_refuse_when_full() -> None:
    async def scenario() -> None:
        gate = IngestGate(0, wait_seconds=0, max_waiting=0)
        with pytest.raises(Overloaded):
            await gate.__aenter__()

    _run(scenario())


def test_a_waiter_cancelled_while_waiting_leaks_no_slot() -> None:
    async def scenario() -> None:
        gate = IngestGate(1, wait_seconds=LONG_WAIT_SECONDS, max_waiting=2)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(gate, release, [], "holder"))
        await _settle()
        waiter = asyncio.create_task(_hold(gate, asyncio.Event(), [], "waiter"))
        await _settle()
        release.set()  # hands the slot to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs
        await holder
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (gate.running, gate.waiting) == (0, 0)

    _run(scenario())


def test_a_waiter_cancelled_just_after_being_handed_a_slot_gives_it_back() -> None:
    async def scenario() -> None:
        gate = IngestGate(1, wait_seconds=LONG_WAIT_SECONDS, max_waiting=1)
        await gate.__aenter__()
        waiter = asyncio.create_task(_hold(gate, asyncio.Event(), [], "waiter"))
        await _settle()
        await gate.__aexit__(None, None, None)  # no suspension: hands the slot over
        waiter.cancel()  # before the waiter could run
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (gate.running, gate.waiting) == (0, 0)

    _run(scenario())
