"""A loop that crashed through a database outage is healthy again once it runs; one stuck crashing is not."""

from __future__ import annotations

import asyncio

import pytest

from tierline_shared import db
from tierline_shared.auth import access_tables
from tierline_shared.messaging.tables import messaging_tables
from tierline_shared.runtime import (
    RECOVERED_AFTER_SECONDS,
    UNHEALTHY_AFTER_CRASHES,
    LoopHealth,
    Runtime,
    ServiceSpec,
    _supervise,
)
from tierline_shared.settings import ServiceSettings
from tierline_shared.testing import eventually

TINY_BACKOFF = 0.001


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FlakyLoop:
    """A background loop: crashes at once while the database is down, else runs until told to crash."""

    def __init__(self, clock: FakeClock, *, runs_before_crash: float = 0.0) -> None:
        self.clock = clock
        self.database_down = True
        self.runs_before_crash = runs_before_crash  # fake seconds a doomed run lasts
        self.runs = 0
        self.running = False
        self.crash_now = asyncio.Event()

    async def __call__(self) -> None:
        self.runs += 1
        if self.database_down:
            self.clock.advance(self.runs_before_crash)
            raise ConnectionRefusedError("database is down")
        self.running = True
        try:
            await self.crash_now.wait()
        finally:
            self.running = False
        self.crash_now.clear()
        raise ConnectionResetError("database went away")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _supervised(loop: FlakyLoop, health: LoopHealth) -> asyncio.Task[None]:
    return asyncio.create_task(_supervise("poller", loop, health, first_delay=TINY_BACKOFF, max_delay=0.005))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_loop_that_crashed_through_an_outage_is_healthy_once_it_has_run_a_while(
    clock: FakeClock,
) -> None:
    health = LoopHealth(clock)
    loop = FlakyLoop(clock)
    task = await _supervised(loop, health)
    try:
        await eventually(lambda: loop.runs > UNHEALTHY_AFTER_CRASHES, what="crashes during the outage")
        assert health.stuck() == ["poller"]

        loop.database_down = False  # the outage ends: the next restart runs
        await eventually(lambda: loop.running, what="the loop running again")
        assert health.stuck() == ["poller"]  # just restarted: not yet proven
        clock.advance(RECOVERED_AFTER_SECONDS - 0.1)
        assert health.stuck() == ["poller"]
        clock.advance(0.1)
        assert health.stuck() == []  # the regression: this stayed unhealthy for good
        assert not task.done()
    finally:
        await _cancel(task)


async def test_a_loop_crashing_over_and_over_stays_unhealthy_as_time_passes(clock: FakeClock) -> None:
    health = LoopHealth(clock)
    # each doomed run lasts just under the recovery window: never a run long enough to count as recovered
    loop = FlakyLoop(clock, runs_before_crash=RECOVERED_AFTER_SECONDS - 0.5)
    task = await _supervised(loop, health)
    try:
        await eventually(lambda: loop.runs >= 4 * UNHEALTHY_AFTER_CRASHES, what="many crashes")
        assert health.stuck() == ["poller"]
        assert clock.now - 1000.0 > 10 * RECOVERED_AFTER_SECONDS  # long after the first crash
    finally:
        await _cancel(task)


async def test_a_crash_after_a_long_run_starts_a_new_count(clock: FakeClock) -> None:
    health = LoopHealth(clock)
    loop = FlakyLoop(clock)
    task = await _supervised(loop, health)
    try:
        await eventually(lambda: loop.runs > UNHEALTHY_AFTER_CRASHES, what="crashes during the outage")
        loop.database_down = False
        await eventually(lambda: loop.running, what="the loop running again")
        clock.advance(RECOVERED_AFTER_SECONDS)
        runs = loop.runs
        loop.crash_now.set()  # one crash after a long healthy run
        await eventually(lambda: loop.runs > runs and loop.running, what="the restart after one crash")
        assert health.stuck() == []  # one crash, not six in a row
        for _ in range(UNHEALTHY_AFTER_CRASHES - 2):  # short runs that crash: the new count grows
            runs = loop.runs
            loop.crash_now.set()
            await eventually(lambda: loop.runs > runs and loop.running, what="a restart")  # noqa: B023
        assert health.stuck() == []  # four in a row
        runs = loop.runs
        loop.crash_now.set()
        await eventually(lambda: loop.runs > runs and loop.running, what="a restart")
        assert health.stuck() == ["poller"]  # five in a row
    finally:
        await _cancel(task)


def test_a_loop_waiting_to_restart_is_not_counted_as_running(clock: FakeClock) -> None:
    health = LoopHealth(clock)
    for _ in range(UNHEALTHY_AFTER_CRASHES):
        health.started("relay")
        health.crashed("relay")
    clock.advance(10 * RECOVERED_AFTER_SECONDS)  # a long backoff is not a healthy run
    assert health.stuck() == ["relay"]
    health.started("relay")
    clock.advance(RECOVERED_AFTER_SECONDS)
    assert health.stuck() == []


def test_the_runtime_health_follows_its_loops(clock: FakeClock) -> None:
    metadata = db.new_metadata()
    messaging_tables(metadata)
    access_tables(metadata)
    settings = ServiceSettings(database_url="postgresql+asyncpg://tierline@127.0.0.1:9/never_connected")
    spec = ServiceSpec(
        name="health-test",
        version="0",
        description="",
        settings=settings,
        metadata=metadata,
        publishes=[],
        consumes=[],
    )
    runtime = Runtime(spec)
    runtime.loops = LoopHealth(clock)
    runtime.loops.started("timer")
    assert runtime.tasks_alive()
    for _ in range(UNHEALTHY_AFTER_CRASHES):
        runtime.loops.crashed("timer")
        runtime.loops.started("timer")
    assert not runtime.tasks_alive()
    clock.advance(RECOVERED_AFTER_SECONDS)
    assert runtime.tasks_alive()
