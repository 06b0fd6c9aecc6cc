"""Assignment and escalation on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tierline_router.adapters.orm import AssignmentRow, outbox
from tierline_router.domain.model import NoVendor, RoutingPolicy, TopOfLadder
from tierline_router.service_layer import routing
from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.errors import Conflict
from tierline_shared.events import IncidentCreated
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.outbox import Outbox

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
POLICY = RoutingPolicy.model_validate(
    {
        "queues": [
            {"name": "desk", "tier": "L1", "agents": ["ann", "bob", "cat"]},
            {"name": "tech", "tier": "L2", "agents": ["dan"]},
            {"name": "experts", "tier": "L3", "agents": []},
        ],
        "tier_budgets": {p: {"L1": "10s", "L2": "20s", "L3": "30s"} for p in ("P1", "P2", "P3", "P4")},
        "vendors": [{"vendor": "acme", "services": ["vpn"]}],
    }
)


@pytest.fixture
async def sessions(new_database) -> AsyncIterator:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url)
    engine = db.create_engine(url)
    yield db.session_factory(engine)
    await engine.dispose()


DEPS = routing.RouterDeps(
    outbox=Outbox(outbox, "/tierline/router", FixedClock(T0)), clock=FixedClock(T0), policy=POLICY
)


def _created(service: str = "vpn") -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="t",
        service=service,
        category="network",
        priority="P2",
        channel="api",
        reporter="r",
        created_at=T0,
    )


async def _published(sessions) -> list:
    async with sessions() as s:
        rows = (await s.execute(select(outbox).order_by(outbox.c.seq))).all()
    return [cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]


async def test_new_incidents_are_assigned_round_robin_once(sessions) -> None:
    events = [_created() for _ in range(4)]
    for event in [*events, events[0]]:  # the last one is a redelivery
        async with sessions() as s, s.begin():
            await routing.assign_new_incident(s, DEPS, event)
    assigned = await _published(sessions)
    assert [a.assignee for a in assigned] == ["ann", "bob", "cat", "ann"]
    assert {(a.tier, a.queue, a.tier_budget_seconds) for a in assigned} == {("L1", "desk", 10.0)}


async def test_ladder_to_vendor_then_top(sessions) -> None:
    event = _created("vpn")
    async with sessions() as s, s.begin():
        await routing.assign_new_incident(s, DEPS, event)
    for _ in range(3):
        async with sessions() as s, s.begin():
            await routing.escalate(s, DEPS, event.incident_id, reason="manual", note="customer VIP")
    with pytest.raises(TopOfLadder):
        async with sessions() as s, s.begin():
            await routing.escalate(s, DEPS, event.incident_id, reason="manual")
    escalated = (await _published(sessions))[1:]
    assert [(e.from_tier, e.to_tier) for e in escalated] == [("L1", "L2"), ("L2", "L3"), ("L3", "L4")]
    assert [e.assignee for e in escalated] == ["dan", None, None]  # experts has nobody on it
    assert escalated[-1].vendor == "acme" and escalated[-1].tier_budget_seconds is None
    assert escalated[0].tier_budget_seconds == 20.0


async def test_no_vendor_keeps_the_incident_at_l3(sessions) -> None:
    event = _created("mail")
    async with sessions() as s, s.begin():
        await routing.assign_new_incident(s, DEPS, event)
        await routing.escalate(s, DEPS, event.incident_id, reason="manual")
        await routing.escalate(s, DEPS, event.incident_id, reason="manual")
    with pytest.raises(NoVendor):
        async with sessions() as s, s.begin():
            await routing.escalate(s, DEPS, event.incident_id, reason="manual")
    async with sessions() as s:
        row = await s.get(AssignmentRow, event.incident_id)
    assert row.tier == "L3"


async def test_simultaneous_breaches_of_one_tier_escalate_once(sessions) -> None:
    event = _created()
    async with sessions() as s, s.begin():
        await routing.assign_new_incident(s, DEPS, event)

    async def breach() -> None:
        async with sessions() as s, s.begin():
            await routing.escalate_on_breach(s, DEPS, event.incident_id, "L1")

    await asyncio.gather(*(breach() for _ in range(5)))
    async with sessions() as s:
        row = await s.get(AssignmentRow, event.incident_id)
    assert (row.tier, row.escalations) == ("L2", 1)


async def test_resolved_incident_is_released_and_cannot_escalate(sessions) -> None:
    event = _created()
    async with sessions() as s, s.begin():
        await routing.assign_new_incident(s, DEPS, event)
        await routing.release(s, DEPS, event.incident_id)
    with pytest.raises(Conflict):
        async with sessions() as s, s.begin():
            await routing.escalate(s, DEPS, event.incident_id, reason="manual")
    async with sessions() as s, s.begin():
        await routing.escalate_on_breach(s, DEPS, event.incident_id, "L1")  # ignored, no error
    async with sessions() as s:
        assert (await s.get(AssignmentRow, event.incident_id)).status == "released"
