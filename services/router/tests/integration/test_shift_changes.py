"""Shift changes on the real app, PostgreSQL and Kafka, on an injected clock.

The desk (mail, ``keep``) and ops (vpn, ``reassign``) follow ``desk-week``: ann, then bob, handed
over Monday 09:00 Berlin time from 5 January 2026. Office (everything else, ``keep``) follows
``office-hours``: cat, then dan, a day each, Monday to Friday 09:00-17:00 Berlin time. The clock
starts on Monday 7 December 2026 at 11:00 Berlin time: ann's week, cat's day. The app's own loop
takes its first look at start and then sleeps for an hour: the tests drive each pass themselves.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from tierline_router.adapters.orm import AssignmentRow, ScheduleWatchRow, outbox
from tierline_router.bootstrap import create_app
from tierline_router.config import Settings
from tierline_router.service_layer import handover, placement
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared import migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import Event, IncidentAssigned, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.runtime import Runtime
from tierline_shared.testing import TopicReader, app_client, app_settings, eventually

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ADMIN_KEY = "tl_test-admin-key-for-router-shifts"
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # Monday, 11:00 in Berlin
HANDOFF = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)  # Monday, 09:00 in Berlin: bob's week
STARTED, ENDED = "tierline.oncall.shift_started.v1", "tierline.oncall.shift_ended.v1"
POLICY: dict[str, Any] = {
    "agents": [
        {"name": "ann", "capacity": 2},
        *({"name": n, "capacity": 5} for n in ("bob", "cat", "dan")),
    ],
    "queues": [
        {
            "name": "desk",
            "tier": "L1",
            "services": ["mail"],
            "agents": ["ann", "bob"],
            "schedule": "desk-week",
        },
        {
            "name": "ops",
            "tier": "L1",
            "services": ["vpn"],
            "agents": ["ann", "bob"],
            "schedule": "desk-week",
            "handover": "reassign",
        },
        {"name": "office", "tier": "L1", "agents": ["cat", "dan"], "schedule": "office-hours"},
        {"name": "tech", "tier": "L2", "agents": ["cat", "dan"]},
        {"name": "experts", "tier": "L3", "agents": ["dan"]},
    ],
    "escalation_policies": [{"name": "rest", "ladder": [{"tier": "L1", "budget": "4h"}, {"tier": "L2"}]}],
    "schedules": [
        {
            "name": "desk-week",
            "timezone": "Europe/Berlin",
            "layers": [
                {
                    "name": "weekly",
                    "members": ["ann", "bob"],
                    "rotation": "weekly",
                    "handoff": "09:00",
                    "start": "2026-01-05",
                }
            ],
        },
        {
            "name": "office-hours",
            "timezone": "Europe/Berlin",
            "layers": [
                {
                    "name": "desk",
                    "members": ["cat", "dan"],
                    "rotation": "daily",
                    "handoff": "09:00",
                    "start": "2026-12-07",
                    "restrictions": [
                        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
                    ],
                }
            ],
        },
    ],
}


@dataclass
class Router:
    runtime: Runtime
    clock: FixedClock
    topic_prefix: str
    bootstrap: str
    http: Any

    @property
    def deps(self) -> Any:
        return self.runtime.state["deps"]

    def reader(self) -> TopicReader:
        return TopicReader(self.bootstrap, [self.topic_prefix + topics.ROUTING])

    async def look(self) -> int:
        """One pass of the shift-change loop, in its own transaction, as the worker runs it."""
        async with self.runtime.unit_of_work() as session:
            return await handover.watch_shifts(
                RouterUnitOfWork(session, self.deps.outbox), self.deps, limit=50
            )

    async def route(self, service: str) -> uuid.UUID:
        event = IncidentCreated(
            incident_id=uuid.uuid4(),
            title="Something broke",
            service=service,
            category="general",
            priority="P3",
            channel="api",
            reporter="r@example.com",
            created_at=self.clock.now(),
        )
        async with self.runtime.unit_of_work() as session:
            await placement.assign_new_incident(RouterUnitOfWork(session, self.deps.outbox), self.deps, event)
        return event.incident_id

    async def holders(self, *incidents: uuid.UUID) -> list[str | None]:
        async with self.runtime.sessions() as session:
            rows = {r.incident_id: r.assignee for r in (await session.scalars(select(AssignmentRow))).all()}
        return [rows[i] for i in incidents]

    async def watch(self, schedule: str) -> ScheduleWatchRow:
        async with self.runtime.sessions() as session:
            row = await session.get(ScheduleWatchRow, schedule)
            assert row is not None
            return row

    async def staged(self) -> list[Event]:
        """Every event the router committed to its outbox, in order."""
        async with self.runtime.sessions() as session:
            rows = (await session.execute(select(outbox).order_by(outbox.c.seq))).all()
        return [cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]

    async def shifts(self, schedule: str | None = None) -> list[tuple[str, str, str]]:
        """(kind, schedule, person) of the shift events staged so far (only ``schedule``'s when given)."""
        return [
            (type(e).__name__.removeprefix("Oncall"), e.schedule, e.person)
            for e in await self.staged()
            if type(e).__name__.startswith("OncallShift") and schedule in (None, e.schedule)
        ]

    async def reasons(self, incident: uuid.UUID) -> list[tuple[str | None, str]]:
        return [
            (e.assignee, e.reason)
            for e in await self.staged()
            if isinstance(e, IncidentAssigned) and e.incident_id == incident
        ]


Start = Callable[..., Awaitable[Router]]


@pytest.fixture
async def start(infra, new_database, tmp_path: Path) -> AsyncIterator[Start]:
    """Start the app on POLICY; the loop's first look (at start) is over before the test goes on."""
    apps: list[Any] = []

    async def started(poll_seconds: float = 3600.0) -> Router:
        url = new_database("router")
        migrations.upgrade(MIGRATIONS, url)
        (tmp_path / "router.yaml").write_text(yaml.safe_dump(POLICY))
        settings = app_settings(
            Settings, infra, url, tmp_path, api_key=ADMIN_KEY, shift_poll_seconds=poll_seconds
        )
        clock = FixedClock(T0)
        app = create_app(settings, clock=clock)
        client = app_client(app, ADMIN_KEY, base_url="http://router.test")
        http = await client.__aenter__()
        apps.append(client)
        router = Router(app.state.runtime, clock, settings.kafka_topic_prefix, infra.bootstrap_servers, http)
        await eventually(
            lambda: _looked_at(router), timeout=30, what="the loop's first look at every schedule"
        )
        return router

    yield started
    for client in reversed(apps):
        await client.__aexit__(None, None, None)


def _both(first: list[Any], second: list[Any]) -> tuple[Any, Any] | None:
    """The one envelope of each list once both have arrived (None before)."""
    return (first[0], second[0]) if first and second else None


def _all_moved(reader: TopicReader, count: int) -> list[Any] | None:
    """The shift_change reassignments on the topic once ``count`` of them and bob's shift are there."""
    moved = [e for e in reader.of_type("tierline.incident.assigned.v1") if e.data.reason == "shift_change"]
    is_started = any(e.data.person == "bob" for e in reader.of_type(STARTED))
    return moved if len(moved) >= count and is_started else None


async def _looked_at(router: Router) -> bool:
    return all([(await router.watch(name)).check_at > T0 for name in ("desk-week", "office-hours")])


async def test_a_handoff_hands_waiting_work_to_the_incoming_person_and_keep_leaves_held_work(
    start: Start,
) -> None:
    router = await start()
    assert await router.shifts() == [  # the first look: who is on call from now
        ("ShiftStarted", "desk-week", "ann"),
        ("ShiftStarted", "office-hours", "cat"),
    ]
    assert (await router.watch("desk-week")).check_at == HANDOFF
    vpn = await router.route("vpn")
    held = await router.route("mail")
    waiting = await router.route("mail")  # ann holds two: her capacity
    assert await router.holders(vpn, held, waiting) == ["ann", "ann", None]

    router.clock.advance(HANDOFF - T0 - timedelta(minutes=1))
    while await router.look():  # a week of office hours (desk-week: nothing due a minute before)
        pass
    assert await router.shifts("desk-week") == [("ShiftStarted", "desk-week", "ann")]
    assert await router.holders(vpn, held, waiting) == ["ann", "ann", None]
    router.clock.advance(timedelta(minutes=1))
    async with router.reader() as reader:
        assert await router.look() == 2  # desk-week's handoff, and office hours starting
        assert await router.holders(vpn, held, waiting) == ["bob", "ann", "bob"]
        assert await router.reasons(waiting) == [(None, "routed"), ("bob", "dequeued")]
        assert await router.reasons(held) == [("ann", "routed")]  # desk keeps: ann's stays hers
        assert await router.reasons(vpn) == [("ann", "routed"), ("bob", "shift_change")]  # ops reassigns
        assert await router.shifts("desk-week") == [
            ("ShiftStarted", "desk-week", "ann"),
            ("ShiftEnded", "desk-week", "ann"),
            ("ShiftStarted", "desk-week", "bob"),
        ]
        watch = await router.watch("desk-week")
        assert (watch.person, watch.since, watch.check_at) == ("bob", HANDOFF, HANDOFF + timedelta(days=7))
        ended, started = await eventually(
            lambda: _both(
                reader.of_type(ENDED, "desk-week"),
                [e for e in reader.of_type(STARTED, "desk-week") if e.data.person == "bob"],
            ),
            timeout=30,
            what="the handoff on the routing topic",
        )
    assert (ended.data.person, ended.data.queues, ended.data.at) == ("ann", ["desk", "ops"], HANDOFF)
    assert (started.data.person, started.data.queues, started.data.at) == ("bob", ["desk", "ops"], HANDOFF)
    assert await router.look() == 0  # looked at: not due again until next week


async def test_two_replicas_reassign_held_work_exactly_once(start: Start) -> None:
    router = await start()
    held = [await router.route("vpn"), await router.route("vpn")]
    assert await router.holders(*held) == ["ann", "ann"]
    router.clock.advance(HANDOFF - T0)

    async with router.reader() as reader:
        # two replicas' loops at the same instant, each in its own transaction on its own connection
        looked = await asyncio.gather(router.look(), router.look())
        # the second waited for the routing lock, then found nothing due (office hours were due too)
        assert sorted(looked) == [0, 2]
        assert await router.holders(*held) == ["bob", "bob"]
        for incident in held:
            assert await router.reasons(incident) == [("ann", "routed"), ("bob", "shift_change")]
        assert await router.shifts("desk-week") == [
            ("ShiftStarted", "desk-week", "ann"),
            ("ShiftEnded", "desk-week", "ann"),
            ("ShiftStarted", "desk-week", "bob"),
        ]
        moved = await eventually(
            lambda: _all_moved(reader, len(held)),
            timeout=30,
            what="the reassignments and the new shift on the routing topic",
        )
    assert sorted(str(e.data.incident_id) for e in moved) == sorted(str(i) for i in held)
    assert [e.data.person for e in reader.of_type(STARTED, "desk-week")] == ["ann", "bob"]
    assert await router.look() == 0


async def test_an_override_mid_week_changes_hands_at_its_start_and_back_at_its_end(start: Start) -> None:
    router = await start()
    vpn = await router.route("vpn")
    cover = {"person": "bob", "start": "2026-12-09T12:00:00Z", "end": "2026-12-09T18:00:00Z"}
    answer = await router.http.post("/v1/schedules/desk-week/overrides", json=cover)
    assert answer.status_code == 201, answer.text
    assert (await router.watch("desk-week")).check_at == T0  # the API marks it due at once
    assert await router.look() == 1  # still ann: the look only moves to the override's start
    watch = await router.watch("desk-week")
    assert (watch.person, watch.check_at) == ("ann", datetime(2026, 12, 9, 12, tzinfo=UTC))
    assert await router.shifts("desk-week") == [("ShiftStarted", "desk-week", "ann")]  # nothing new

    router.clock.advance(timedelta(days=2, hours=2))  # Wednesday 12:00 UTC
    assert await router.look() == 2  # office hours have changed hands meanwhile too
    assert await router.holders(vpn) == ["bob"]
    assert await router.holders(await router.route("mail")) == ["bob"]
    assert (await router.watch("desk-week")).check_at == datetime(2026, 12, 9, 18, tzinfo=UTC)

    router.clock.advance(timedelta(hours=6))  # the override ends: ann again
    assert await router.look() == 2
    assert await router.holders(vpn) == ["ann"]
    assert await router.reasons(vpn) == [("ann", "routed"), ("bob", "shift_change"), ("ann", "shift_change")]
    assert await router.shifts("desk-week") == [
        ("ShiftStarted", "desk-week", "ann"),
        ("ShiftEnded", "desk-week", "ann"),
        ("ShiftStarted", "desk-week", "bob"),
        ("ShiftEnded", "desk-week", "bob"),
        ("ShiftStarted", "desk-week", "ann"),
    ]
    assert (await router.watch("desk-week")).check_at == HANDOFF


async def test_with_nobody_on_call_new_work_waits_for_the_next_shift(start: Start) -> None:
    router = await start()
    router.clock.advance(timedelta(hours=6))  # Monday 17:00 in Berlin: office hours are over
    assert await router.look() == 1
    assert await router.shifts("office-hours") == [
        ("ShiftStarted", "office-hours", "cat"),
        ("ShiftEnded", "office-hours", "cat"),
    ]
    watch = await router.watch("office-hours")
    assert (watch.person, watch.check_at) == (None, datetime(2026, 12, 8, 8, tzinfo=UTC))
    late = await router.route("printer")
    assert await router.holders(late) == [None]  # nobody on call: it waits in the office queue

    router.clock.advance(timedelta(hours=16))  # Tuesday 09:00 in Berlin: dan's day
    assert await router.look() == 1
    assert await router.holders(late) == ["dan"]
    assert await router.reasons(late) == [(None, "routed"), ("dan", "dequeued")]
    assert (await router.shifts("office-hours"))[2:] == [("ShiftStarted", "office-hours", "dan")]


async def test_the_running_loop_hands_over_by_itself(start: Start) -> None:
    router = await start(poll_seconds=0.05)
    vpn = await router.route("vpn")
    async with router.reader() as reader:
        router.clock.advance(HANDOFF - T0)
        moved = await eventually(
            lambda: [
                e for e in reader.of_type("tierline.incident.assigned.v1") if e.data.reason == "shift_change"
            ],
            timeout=30,
            what="the loop's reassignment at the handoff",
        )
    assert [(e.data.incident_id, e.data.assignee) for e in moved] == [(vpn, "bob")]
    assert any(e.data.person == "bob" for e in reader.of_type(STARTED, "desk-week"))


async def test_a_schedule_that_cannot_be_looked_at_is_retried_and_the_others_still_change(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = await start()
    vpn = await router.route("vpn")
    real = handover.hand_over

    async def broken(uow: Any, deps: Any, catalog: Any, change: handover.ShiftChange) -> None:
        await real(uow, deps, catalog, change)  # announced and recorded, then it fails
        if change.schedule == "office-hours":
            raise RuntimeError("a bug in one schedule")

    monkeypatch.setattr(handover, "hand_over", broken)
    router.clock.advance(HANDOFF - T0)
    assert await router.look() == 2
    assert await router.holders(vpn) == ["bob"]  # desk-week changed hands all the same
    office = await router.watch("office-hours")
    assert (office.person, office.check_at) == ("cat", HANDOFF + handover.RETRY)  # nothing of it kept
    assert await router.shifts("office-hours") == [("ShiftStarted", "office-hours", "cat")]
    monkeypatch.setattr(handover, "hand_over", real)
    router.clock.advance(handover.RETRY)
    assert await router.look() == 1
    assert (await router.watch("office-hours")).person == "dan"  # Monday 14th is dan's day
