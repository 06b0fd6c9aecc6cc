"""Clocks on the real PostgreSQL: start, stop, and fire exactly once across competing pollers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import IncidentCreated
from tierline_shared.messaging.outbox import Outbox
from tierline_sla_monitor.adapters.orm import ClockRow, outbox
from tierline_sla_monitor.domain.policy import SlaConfig
from tierline_sla_monitor.service_layer import clocks, timers

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(new_database) -> AsyncIterator:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url)
    engine = db.create_engine(url, pool_size=20)
    yield db.session_factory(engine)
    await engine.dispose()


def _deps(clock: FixedClock) -> clocks.SlaDeps:
    return clocks.SlaDeps(
        outbox=Outbox(outbox, "/tierline/sla-monitor", clock), clock=clock, config=SlaConfig()
    )


def _uow(session, deps: clocks.SlaDeps) -> clocks.SlaUnitOfWork:
    return clocks.SlaUnitOfWork(session, deps.outbox)


def _created(priority: str = "P1") -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="t",
        service="s",
        category="c",
        priority=priority,
        channel="api",
        reporter="r",
        created_at=T0,
    )


async def _event_types(sessions) -> list[str]:
    async with sessions() as s:
        return list(await s.scalars(select(outbox.c.event_type).order_by(outbox.c.seq)))


async def test_created_starts_response_and_resolution_clocks_with_policy_targets(sessions) -> None:
    deps = _deps(FixedClock(T0))
    event = _created("P2")
    async with sessions() as s, s.begin():
        await clocks.start_incident_clocks(_uow(s, deps), deps, event)
        await clocks.start_incident_clocks(_uow(s, deps), deps, event)  # a redelivery starts nothing new
    async with sessions() as s:
        rows = {r.kind: r for r in await s.scalars(select(ClockRow))}
    assert set(rows) == {"response", "resolution"}
    assert rows["response"].due_at == T0 + timedelta(minutes=30)
    assert rows["resolution"].due_at == T0 + timedelta(hours=8)
    assert await _event_types(sessions) == ["tierline.sla.clock_started.v1"] * 2


async def test_escalation_replaces_the_tier_clock_and_resolve_stops_everything(sessions) -> None:
    clock = FixedClock(T0)
    deps = _deps(clock)
    event = _created()
    async with sessions() as s, s.begin():
        await clocks.start_incident_clocks(_uow(s, deps), deps, event)
        await clocks.restart_tier_clock(
            _uow(s, deps), deps, incident_id=event.incident_id, tier="L1", budget_seconds=60, at=T0
        )
        await clocks.restart_tier_clock(
            _uow(s, deps),
            deps,
            incident_id=event.incident_id,
            tier="L2",
            budget_seconds=120,
            at=T0 + timedelta(seconds=30),
        )
        await clocks.stop_response_clock(_uow(s, deps), deps, event.incident_id, T0 + timedelta(minutes=20))
        await clocks.stop_all_clocks(_uow(s, deps), deps, event.incident_id, T0 + timedelta(hours=1))
        # a late assignment for a closed incident starts nothing
        await clocks.restart_tier_clock(
            _uow(s, deps), deps, incident_id=event.incident_id, tier="L3", budget_seconds=1, at=T0
        )
    async with sessions() as s:
        rows = [
            (r.kind, r.tier, r.state)
            for r in await s.scalars(select(ClockRow).order_by(ClockRow.started_at, ClockRow.kind))
        ]
    assert sorted(rows) == sorted(
        [
            ("response", None, "breached"),
            ("resolution", None, "met"),
            ("tier", "L1", "met"),  # L2 took it within L1's budget
            ("tier", "L2", "breached"),  # resolved an hour in: past L2's 120 s
        ]
    )
    types = await _event_types(sessions)
    # P1 response target is 15 min: acknowledging after 20 min is a breach, announced on stop;
    # so is the L2 budget, still running when the incident was resolved; L1 and the resolution were met.
    assert types.count("tierline.sla.breached.v1") == 2
    assert types.count("tierline.sla.met.v1") == 2


async def test_competing_pollers_fire_each_due_clock_exactly_once(sessions) -> None:
    clock = FixedClock(T0)
    deps = _deps(clock)
    incidents = 150
    async with sessions() as s, s.begin():
        for i in range(incidents):
            await clocks.restart_tier_clock(
                _uow(s, deps), deps, incident_id=uuid.uuid4(), tier="L1", budget_seconds=10 + i % 7, at=T0
            )
    clock.advance(timedelta(seconds=60))

    async def poller() -> int:
        total = 0
        while True:
            async with sessions() as s, s.begin():
                fired = await timers.fire_due_clocks(_uow(s, deps), deps, limit=7)
            if fired == 0:
                return total
            total += fired

    counts = await asyncio.gather(*(poller() for _ in range(4)))
    assert sum(counts) == incidents
    async with sessions() as s:
        breached = await s.scalar(
            select(func.count()).select_from(ClockRow).where(ClockRow.state == "breached")
        )
        events = await s.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.event_type == "tierline.sla.breached.v1")
        )
    assert breached == incidents and events == incidents


async def test_clocks_not_yet_due_do_not_fire(sessions) -> None:
    clock = FixedClock(T0)
    deps = _deps(clock)
    async with sessions() as s, s.begin():
        await clocks.restart_tier_clock(
            _uow(s, deps), deps, incident_id=uuid.uuid4(), tier="L1", budget_seconds=10, at=T0
        )
    clock.advance(timedelta(seconds=9))
    async with sessions() as s, s.begin():
        assert await timers.fire_due_clocks(_uow(s, deps), deps, limit=10) == 0
    clock.advance(timedelta(seconds=1))
    async with sessions() as s, s.begin():
        assert await timers.fire_due_clocks(_uow(s, deps), deps, limit=10) == 1


async def test_priority_change_counts_time_already_spent(sessions) -> None:
    """A P3 raised to P1 three hours in keeps its start: the P1 resolution clock is due at start + 4 h."""
    clock = FixedClock(T0)
    deps = _deps(clock)
    event = _created("P3")
    async with sessions() as s, s.begin():
        await clocks.start_incident_clocks(_uow(s, deps), deps, event)
    clock.advance(timedelta(hours=3))
    async with sessions() as s, s.begin():
        await clocks.recalculate(
            _uow(s, deps), deps, event.incident_id, priority="P1", service="s", at=clock.now()
        )
    async with sessions() as s:
        rows = {r.kind: r for r in await s.scalars(select(ClockRow))}
    assert rows["resolution"].due_at == T0 + timedelta(hours=4)  # 1 h left
    assert rows["response"].due_at == T0 + timedelta(hours=3)  # the 15 min were spent: due when it applied
    async with sessions() as s, s.begin():
        # the response breach, and the resolution clock's 75 % warning (3 h of 4 h spent)
        assert await timers.fire_due_clocks(_uow(s, deps), deps, limit=10) == 2
    types = await _event_types(sessions)
    assert types.count("tierline.sla.recalculated.v1") == 2


async def test_reopen_starts_a_fresh_resolution_clock(sessions) -> None:
    clock = FixedClock(T0)
    deps = _deps(clock)
    event = _created("P2")
    async with sessions() as s, s.begin():
        await clocks.start_incident_clocks(_uow(s, deps), deps, event)
        await clocks.stop_all_clocks(_uow(s, deps), deps, event.incident_id, T0 + timedelta(hours=1))
    reopened_at = T0 + timedelta(hours=2)
    async with sessions() as s, s.begin():
        await clocks.restart_after_reopen(_uow(s, deps), deps, event.incident_id, "P2", reopened_at)
        await clocks.restart_after_reopen(
            _uow(s, deps), deps, event.incident_id, "P2", reopened_at
        )  # redelivery
    async with sessions() as s:
        running = list(await s.scalars(select(ClockRow).where(ClockRow.state == "running")))
    assert [(r.kind, r.due_at) for r in running] == [("resolution", reopened_at + timedelta(hours=8))]


async def test_a_stop_in_time_that_arrives_late_turns_the_breach_into_met(sessions) -> None:
    """Consumer lag: the poller fired first, but the acknowledgement happened before the due time."""
    clock = FixedClock(T0)
    deps = _deps(clock)
    event = _created("P1")  # response due T0 + 15 min
    async with sessions() as s, s.begin():
        await clocks.start_incident_clocks(_uow(s, deps), deps, event)
    clock.advance(timedelta(minutes=20))
    async with sessions() as s, s.begin():
        assert await timers.fire_due_clocks(_uow(s, deps), deps, limit=10) == 1
    async with sessions() as s, s.begin():
        await clocks.stop_response_clock(_uow(s, deps), deps, event.incident_id, T0 + timedelta(minutes=10))
    async with sessions() as s:
        response = await s.scalar(select(ClockRow).where(ClockRow.kind == "response"))
    assert (response.state, response.stopped_at) == ("met", T0 + timedelta(minutes=10))
    assert (await _event_types(sessions))[-1] == "tierline.sla.met.v1"


async def test_reassignment_keeps_the_tier_clock_and_a_new_budget_rearms_it_from_tier_entry(sessions) -> None:
    clock = FixedClock(T0)
    deps = _deps(clock)
    incident = uuid.uuid4()

    async def assigned(budget: float, at: datetime, entered: datetime = T0) -> None:
        async with sessions() as s, s.begin():
            await clocks.restart_tier_clock(
                _uow(s, deps),
                deps,
                incident_id=incident,
                tier="L1",
                budget_seconds=budget,
                at=at,
                entered_at=entered,
            )

    async def tier_clocks() -> list[tuple[str, datetime, datetime]]:
        async with sessions() as s:
            rows = await s.scalars(select(ClockRow).order_by(ClockRow.started_at, ClockRow.due_at.desc()))
            return [(r.state, r.started_at, r.due_at) for r in rows]

    await assigned(600, T0)
    await assigned(600, T0 + timedelta(minutes=3))  # another agent of the same tier: the budget keeps running
    assert await tier_clocks() == [("running", T0, T0 + timedelta(minutes=10))]

    await assigned(240, T0 + timedelta(minutes=5))  # a higher priority's budget counts from tier entry
    assert await tier_clocks() == [
        ("cancelled", T0, T0 + timedelta(minutes=10)),
        ("running", T0, T0 + timedelta(minutes=4)),
    ]
    clock.advance(timedelta(minutes=5))
    async with sessions() as s, s.begin():
        assert await timers.fire_due_clocks(_uow(s, deps), deps, limit=10) == 1
    await assigned(240, T0 + timedelta(minutes=6))  # re-assigned after the breach: no second breach
    async with sessions() as s, s.begin():
        assert await timers.fire_due_clocks(_uow(s, deps), deps, limit=10) == 0
    states = [state for state, _, _ in await tier_clocks()]
    assert states == ["cancelled", "breached"]

    await assigned(600, T0 + timedelta(minutes=7), entered=T0 + timedelta(minutes=7))  # reopened: a new stay
    assert (await tier_clocks())[-1] == ("running", T0 + timedelta(minutes=7), T0 + timedelta(minutes=17))
