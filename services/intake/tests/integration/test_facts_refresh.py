"""The reports' facts kept as new as the timeline, on the real PostgreSQL (and Kafka for the router's events).

The trigger on ``timeline`` queues an incident with each line written; ``refresh_facts`` rewrites the
queued incidents' facts and stints; the ``facts`` worker (and ``catch_up_facts``, what a report calls
first) drain the queue, the migration's backfill included.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, text

from tierline_intake.adapters.facts_repository import FactsRepository
from tierline_intake.adapters.orm import FactsStale, IncidentFacts, IncidentStint
from tierline_intake.bootstrap import create_app
from tierline_intake.config import Settings
from tierline_intake.domain.facts import derive
from tierline_intake.entrypoints import workers
from tierline_intake.entrypoints.workers import catch_up_facts
from tierline_intake.service_layer.facts import refresh_facts
from tierline_intake.service_layer.incidents import IntakeDeps, acknowledge_incident
from tierline_shared import migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import Event, IncidentAssigned, IncidentEscalated
from tierline_shared.runtime import Runtime
from tierline_shared.testing import answer, app_client, app_settings, eventually, publish_events

from .conftest import ADMIN_KEY, CONFIG_DIR, MIGRATIONS, vpn_incident

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
M = timedelta(minutes=1)
ROUTER = "/tierline/router"


# -- the queue and one refresh, through the service layer (no worker running) -------------------


async def _queued(sessions) -> list[uuid.UUID]:
    async with sessions() as session:
        return list(await session.scalars(select(FactsStale.incident_id).order_by(FactsStale.seq)))


async def _refresh(sessions, deps: IntakeDeps, limit: int = 500) -> int:
    async with sessions() as session, session.begin():
        return await refresh_facts(deps.unit_of_work(session), deps, limit=limit)


async def _facts(sessions, incident_id: uuid.UUID) -> IncidentFacts | None:
    async with sessions() as session:
        return await session.get(IncidentFacts, incident_id)


async def test_a_new_incident_is_queued_and_a_refresh_writes_its_facts(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    assert await _queued(sessions) == [incident_id]  # its "created" line queued it
    assert await _facts(sessions, incident_id) is None

    assert await _refresh(sessions, deps) == 1
    facts = await _facts(sessions, incident_id)
    assert facts is not None
    assert (facts.service, facts.category, facts.priority, facts.channel, facts.type, facts.status) == (
        "vpn",
        "network",
        "P2",
        "web",
        "incident",
        "open",
    )
    assert (facts.resolved_at, facts.first_contact, facts.first_ack_at) == (None, None, None)
    assert (facts.l1_only, facts.tiers_held, facts.reassignments, facts.breached) == (True, [], 0, False)
    assert facts.refreshed_at == deps.clock.now()
    assert await _queued(sessions) == []
    assert await _refresh(sessions, deps) == 0  # nothing left to do


async def test_a_batch_takes_the_oldest_rows_once_per_incident_and_drops_unknown_ids(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    ghost, other = uuid.uuid4(), uuid.uuid4()
    async with sessions() as session, session.begin():
        await session.execute(
            FactsStale.__table__.insert(),
            [{"incident_id": i} for i in (incident_id, ghost, incident_id, other)],
        )
    # queue: incident, incident, ghost, incident, other -> the first four rows hold two incidents
    assert await _refresh(sessions, deps, limit=4) == 2
    assert await _queued(sessions) == [other]
    assert await _facts(sessions, incident_id) is not None
    assert await _facts(sessions, ghost) is None
    assert await _refresh(sessions, deps) == 1  # the unknown one is dropped too
    assert await _queued(sessions) == []


async def test_a_refresh_that_read_a_newer_timeline_never_commits_before_an_older_one(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refresher A reads the timeline, then (before A writes) a line lands and refresher B starts:
    B must wait for A, or A would overwrite B's newer facts with its older ones."""
    write = FactsRepository.write
    a_read, a_writes = asyncio.Event(), asyncio.Event()

    async def gated_write(self: FactsRepository, facts: Any, *, now: datetime) -> None:
        if not a_read.is_set():  # refresher A: hold on between reading and writing
            a_read.set()
            await a_writes.wait()
        await write(self, facts, now=now)

    monkeypatch.setattr(FactsRepository, "write", gated_write)
    a = asyncio.create_task(_refresh(sessions, deps))
    await asyncio.wait_for(a_read.wait(), 10)  # A took the queue's row and read the "created" line
    async with sessions() as session, session.begin():  # a line lands: queued again
        await acknowledge_incident(deps.unit_of_work(session), deps, incident_id, by="bob")
    b = asyncio.create_task(_refresh(sessions, deps))

    async def b_waits_or_is_done() -> bool:
        if b.done():
            return True
        async with sessions() as session:
            waiting = await session.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        return bool(waiting)

    await eventually(b_waits_or_is_done, timeout=10, what="refresher B waiting for A, or done")
    a_writes.set()
    assert await a == 1
    assert await b == 1  # B took the acknowledgement's row, after A committed
    facts = await _facts(sessions, incident_id)
    assert facts is not None
    assert (facts.status, facts.first_ack_at) == ("acknowledged", deps.clock.now())
    assert await _queued(sessions) == []


# -- a running intake: API, router events on Kafka, the facts worker ------------------------------


@dataclass
class Intake:
    http: httpx.AsyncClient
    runtime: Runtime
    clock: FixedClock
    prefix: str

    @property
    def deps(self) -> IntakeDeps:
        deps: IntakeDeps = self.runtime.state["deps"]
        return deps

    async def create(self, **fields: Any) -> uuid.UUID:
        body = answer(await self.http.post("/v1/incidents", json=vpn_incident(**fields)), 201)
        return uuid.UUID(body["id"])

    async def act(self, iid: uuid.UUID, action: str, at: datetime | None = None, **body: Any) -> None:
        if at is not None:
            self.clock.advance(at - self.clock.now())
        response = await self.http.post(f"/v1/incidents/{iid}/{action}", json=body)
        assert response.status_code < 300, response.text

    async def facts(self, iid: uuid.UUID) -> tuple[IncidentFacts | None, list[IncidentStint]]:
        async with self.runtime.sessions() as session:
            facts = await session.get(IncidentFacts, iid)
            stints = await session.scalars(
                select(IncidentStint).where(IncidentStint.incident_id == iid).order_by(IncidentStint.n)
            )
            return facts, list(stints)

    async def count(self, table: Any) -> int:
        async with self.runtime.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.fixture
async def start_intake(infra, new_database) -> AsyncIterator[Callable[[], Awaitable[Intake]]]:
    async with AsyncExitStack() as stack:

        async def start() -> Intake:
            url = new_database("intake")
            await asyncio.to_thread(migrations.upgrade, MIGRATIONS, url)
            settings = app_settings(
                Settings, infra, url, CONFIG_DIR, api_key=ADMIN_KEY, rate_limit_per_minute=0
            )
            clock = FixedClock(T0)
            app = create_app(settings, clock=clock)
            http = await stack.enter_async_context(app_client(app, ADMIN_KEY))
            return Intake(http, app.state.runtime, clock, settings.kafka_topic_prefix)

        yield start


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, on intake's own logger: starting the app replaces the root logger's handlers."""
    logger = logging.getLogger("tierline_intake")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="tierline_intake")
    yield caplog
    logger.removeHandler(caplog.handler)


async def test_an_escalated_and_resolved_incident_gets_its_stints_and_facts(start_intake) -> None:
    intake = await start_intake()
    iid = await intake.create(channel="web")
    # the worker writes the new incident's facts (no refresh called here)
    await eventually(lambda: _has_facts(intake, iid), timeout=10, what="the new incident's facts")

    events: list[Event] = [
        IncidentAssigned(
            incident_id=iid,
            tier="L1",
            queue="service-desk",
            assignee="bob",
            tier_entered_at=T0 + M,
            assigned_at=T0 + M,
        ),
        IncidentEscalated(
            incident_id=iid,
            from_tier="L1",
            to_tier="L2",
            reason="manual",
            queue="network-l2",
            assignee="carol",
            escalated_at=T0 + 30 * M,
        ),
    ]
    await publish_events(intake.runtime.settings.kafka_bootstrap_servers, intake.prefix, ROUTER, events)

    async def escalated() -> bool:
        facts, _ = await intake.facts(iid)
        return facts is not None and facts.tier == "L2"

    await eventually(escalated, timeout=30, what="the router's events in the facts")
    await intake.act(iid, "acknowledge", T0 + 35 * M)
    await intake.act(iid, "hold", T0 + 40 * M, reason="awaiting_customer")
    await intake.act(iid, "resume", T0 + 50 * M)
    await intake.act(iid, "resolve", T0 + 90 * M, resolution_code="fixed", knowledge_article="KB-7")

    async def resolved() -> tuple[IncidentFacts, list[IncidentStint]] | None:
        facts, stints = await intake.facts(iid)
        return (facts, stints) if facts is not None and facts.status == "resolved" else None

    facts, stints = await eventually(resolved, timeout=10, what="the resolution in the facts")
    assert [(s.n, s.tier, s.queue, s.agent, s.ended_by) for s in stints] == [
        (1, "L1", "service-desk", "bob", "escalated"),
        (2, "L2", "network-l2", "carol", "resolved"),
    ]
    assert [(s.started_at, s.ended_at) for s in stints] == [(T0 + M, T0 + 30 * M), (T0 + 30 * M, T0 + 90 * M)]
    assert [s.hold_seconds for s in stints] == [0, 600]
    assert [s.handle_seconds for s in stints] == [29 * 60, 60 * 60 - 600]  # the hold is not handle time
    assert (facts.tier, facts.queue, facts.agent) == ("L2", "network-l2", "carol")
    assert (facts.tiers_held, facts.escalated_from, facts.l1_only) == (["L1", "L2"], ["L1"], False)
    assert (facts.held_tiers, facts.escalated_tiers) == (0b11, 0b01)  # L1 and L2 held; up out of L1
    assert (facts.handled_seconds, facts.handled_stints) == (29 * 60 + 60 * 60 - 600, 2)
    assert (facts.first_ack_at, facts.resolved_at) == (T0 + 35 * M, T0 + 90 * M)
    assert facts.created_day == facts.created_at.astimezone(UTC).date()
    assert (facts.ack_seconds, facts.resolve_seconds) == (
        (T0 + 35 * M - facts.created_at).total_seconds(),
        (T0 + 90 * M - facts.created_at).total_seconds(),
    )
    assert [(s.created_at, s.created_day) for s in stints] == [(facts.created_at, facts.created_day)] * 2
    assert facts.first_contact is False  # web, 90 min of wall clock (no business time from the SLA monitor)
    assert (facts.knowledge_linked, facts.hold_seconds, facts.reassignments) == (True, 600, 0)
    assert await intake.count(FactsStale) == 0


async def _has_facts(intake: Intake, iid: uuid.UUID) -> bool:
    facts, _ = await intake.facts(iid)
    return facts is not None


# what the refresher writes (PostgreSQL computes the generated columns from them)
_COLUMNS = [
    c.name for c in IncidentFacts.__table__.columns if c.name != "refreshed_at" and c.computed is None
]


def _row(facts: IncidentFacts) -> dict[str, Any]:
    return {c: getattr(facts, c) for c in _COLUMNS}


async def test_the_backfill_refreshes_incidents_whose_timeline_came_before_their_facts(
    start_intake, logged: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    intake = await start_intake()
    ids = [await intake.create(channel="email", title=f"VPN down {n}") for n in range(25)]
    await intake.act(ids[0], "acknowledge", T0 + M)
    await intake.act(ids[0], "resolve", T0 + 2 * M, resolution_code="fixed")

    async def all_refreshed() -> bool:
        return await intake.count(IncidentFacts) == len(ids) and await intake.count(FactsStale) == 0

    await eventually(all_refreshed, timeout=15, what="every incident's facts")
    before = {iid: _row(facts) for iid in ids if (facts := (await intake.facts(iid))[0]) is not None}
    assert before[ids[0]]["status"] == "resolved" and before[ids[0]]["first_contact"] is True

    monkeypatch.setattr(workers, "BATCH", 10)  # so the backlog takes batches
    monkeypatch.setattr(workers, "PROGRESS_SECONDS", 0.0)  # and each says how far it is
    logged.clear()
    # as before migration 0009: timelines, no facts; then the migration's backfill queues them all
    async with intake.runtime.unit_of_work() as session:
        await session.execute(delete(IncidentFacts))
        await session.execute(delete(IncidentStint))
        await session.execute(
            text(
                "INSERT INTO incident_facts_stale (incident_id) SELECT id FROM incidents ORDER BY created_at"
            )
        )

    def progress() -> list[tuple[int, int]]:
        lines = [r.msg for r in logged.records if isinstance(r.msg, dict)]
        return [(e["done"], e["remaining"]) for e in lines if e.get("event") == "facts_backfill"]

    await eventually(lambda: (len(ids), 0) in progress(), timeout=15, what="the backfill's end logged")
    after = {iid: _row(facts) for iid in ids if (facts := (await intake.facts(iid))[0]) is not None}
    assert after == before
    logged_progress = progress()
    assert logged_progress[0] == (10, 15)  # the first batch of 10, 15 incidents to go
    assert all(done + remaining == len(ids) for done, remaining in logged_progress)
    assert [done for done, _ in logged_progress] == sorted(done for done, _ in logged_progress)


async def test_catch_ups_and_the_worker_racing_writers_end_with_the_facts_the_timeline_gives(
    start_intake,
) -> None:
    intake = await start_intake()
    ids = [await intake.create(title=f"VPN down {n}") for n in range(6)]
    for iid in ids:
        await intake.act(iid, "acknowledge")
    writing = True

    async def write(iid: uuid.UUID) -> None:
        for _ in range(8):  # holds and resumes, the clock moving on: every line changes the facts
            await intake.act(iid, "hold", reason="awaiting_customer")
            intake.clock.advance(M)
            await intake.act(iid, "resume")
            intake.clock.advance(M)

    async def refresh() -> int:
        refreshed = 0
        while writing:
            refreshed += await catch_up_facts(intake.runtime)
            await asyncio.sleep(0)
        return refreshed

    refreshers = [asyncio.create_task(refresh()) for _ in range(2)]  # the worker loop runs too
    try:
        await asyncio.gather(*(write(iid) for iid in ids))
    finally:
        writing = False
    assert all(await asyncio.gather(*refreshers))  # both refreshed while the lines were written
    await catch_up_facts(intake.runtime, budget_seconds=10)  # what is still queued (nothing re-queued)
    assert await intake.count(FactsStale) == 0

    now = intake.clock.now()
    async with intake.runtime.sessions() as session:
        uow = intake.deps.unit_of_work(session)
        states = {state.id: state for state in await uow.facts.incidents(ids)}
        timelines = await uow.facts.timelines(ids)
    for iid in ids:
        expected = derive(states[iid], timelines[iid], intake.deps.first_contact_windows, now=now)
        facts, _ = await intake.facts(iid)
        assert facts is not None
        assert (facts.status, facts.hold_seconds) == ("acknowledged", expected.hold_seconds)
        assert expected.hold_seconds >= 8 * 60  # each hold lasted at least its own minute
        assert _row(facts) == {c: getattr(expected, c) for c in _row(facts)}
