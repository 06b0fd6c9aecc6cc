"""The routing use cases on in-memory repositories: load -> domain -> save -> announce, no database.

The fakes answer like the real repositories for what these use cases ask: one aggregate per
incident, the same filters and orders (waiting: priority then age), loads counting open
incidents, a savepoint that undoes only its own changes. The integration tests run the same
use cases on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import RoutingConfig
from tierline_router.service_layer import escalation, lifecycle, placement, updates, vendor_returns
from tierline_router.service_layer.unit_of_work import RouterDeps
from tierline_shared.clock import FixedClock
from tierline_shared.events import (
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    IncidentUpdated,
)

from ..fakes import FakeUnitOfWork

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


CONFIG = RoutingConfig.model_validate(
    {
        "agents": [
            {"name": "ann", "capacity": 1},
            {"name": "bob", "capacity": 1},
            {"name": "dan", "skills": ["network"], "capacity": 1},
            {"name": "eve", "capacity": 1},
        ],
        "queues": [
            {"name": "desk", "tier": "L1", "agents": ["ann", "bob"]},
            {"name": "net", "tier": "L2", "categories": ["network"], "agents": ["dan"]},
            {"name": "tech", "tier": "L2", "agents": ["bob"]},
            {"name": "experts", "tier": "L3", "agents": ["eve"]},
        ],
        "escalation_policies": [
            {
                "name": "p1",
                "priorities": ["P1"],
                "ladder": [{"tier": "L2", "budget": "5m"}, {"tier": "L3", "budget": "9m"}],
            },
            {
                "name": "rest",
                "ladder": [{"tier": "L1", "budget": "10m"}, {"tier": "L2"}, {"tier": "L3"}, {"tier": "L4"}],
                "ack_timeout": "60s",
                "repeat": 1,
            },
        ],
        "vendors": [{"vendor": "acme", "services": ["vpn"]}, {"vendor": "initech", "services": ["vpn"]}],
    }
)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(
        Catalog(
            agents={a.name: a for a in CONFIG.agents},
            queues=sorted(CONFIG.queues, key=lambda q: q.tier),
            policies=list(CONFIG.escalation_policies),
        )
    )


@pytest.fixture
def deps() -> RouterDeps:
    return RouterDeps(outbox=None, clock=FixedClock(T0), vendors=list(CONFIG.vendors))  # type: ignore[arg-type]


def created(priority: str = "P3", service: str = "mail", category: str = "email") -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="t",
        service=service,
        category=category,
        priority=priority,
        channel="api",
        reporter="r",
        created_at=T0,
    )


async def route(uow: Any, deps: RouterDeps, **fields: str) -> uuid.UUID:
    event = created(**fields)
    await placement.assign_new_incident(uow, deps, event)
    return event.incident_id


async def test_new_incidents_take_turns_then_wait(uow: FakeUnitOfWork, deps: RouterDeps) -> None:
    first, second, third = [await route(uow, deps) for _ in range(3)]
    assert [uow.assignments.stored[i].assignee for i in (first, second, third)] == ["ann", "bob", None]
    assert [(e.reason, e.assignee) for e in uow.said(IncidentAssigned)] == [
        ("routed", "ann"),
        ("routed", "bob"),
        ("routed", None),
    ]
    again = len(uow.announced)
    await placement.assign_new_incident(uow, deps, created().model_copy(update={"incident_id": first}))
    assert len(uow.announced) == again  # an incident is routed once


async def test_resolution_hands_the_freed_agent_the_oldest_most_urgent_waiting(
    uow: FakeUnitOfWork, deps: RouterDeps
) -> None:
    held = [await route(uow, deps) for _ in range(2)]
    waiting_p4 = await route(uow, deps, priority="P4")
    waiting_p2 = await route(uow, deps, priority="P2")
    await lifecycle.release(uow, deps, held[1])
    assert uow.assignments.stored[waiting_p2].assignee == "bob"
    assert uow.assignments.stored[waiting_p4].assignee is None
    assert uow.said(IncidentAssigned)[-1].reason == "dequeued"


async def test_escalation_to_the_vendor_frees_the_agent(uow: FakeUnitOfWork, deps: RouterDeps) -> None:
    incident = await route(uow, deps, service="vpn")
    waiting = [await route(uow, deps) for _ in range(2)][-1]
    for _ in range(3):
        await escalation.escalate(uow, deps, incident, reason="manual")
    moves = [(e.from_tier, e.to_tier, e.queue, e.assignee, e.vendor) for e in uow.said(IncidentEscalated)]
    assert moves == [
        ("L1", "L2", "tech", None, None),  # bob, tech's only member, is full with the other incident
        ("L2", "L3", "experts", "eve", None),
        ("L3", "L4", None, None, "acme"),
    ]
    assert uow.assignments.stored[waiting].assignee == "ann"  # ann's incident left the desk


async def test_a_move_from_a_tier_the_incident_has_left_is_refused(
    uow: FakeUnitOfWork, deps: RouterDeps
) -> None:
    """Two clicks on the L1 page's Escalate (or two people) escalate once: the second sees L2."""
    incident = await route(uow, deps)
    await escalation.escalate(uow, deps, incident, reason="manual", from_tier="L1")
    with pytest.raises(escalation.TierMoved) as refused:
        await escalation.escalate(uow, deps, incident, reason="manual", from_tier="L1")
    assert refused.value.status == 409
    assert refused.value.detail.startswith("the incident is at L2 now, not L1")
    assert refused.value.extensions == {"tier": "L2", "expected_tier": "L1"}
    with pytest.raises(escalation.TierMoved):
        await escalation.de_escalate(
            uow, deps, incident, to_tier=None, reason="manual", note="n", from_tier="L3"
        )
    assert uow.assignments.stored[incident].tier == "L2"
    assert len(uow.said(IncidentEscalated)) == 1
    await escalation.de_escalate(uow, deps, incident, to_tier=None, reason="manual", note="n", from_tier="L2")
    assert uow.assignments.stored[incident].tier == "L1"


async def test_a_due_escalation_at_the_ladders_top_is_blocked_not_moved(
    uow: FakeUnitOfWork, deps: RouterDeps
) -> None:
    incident = await route(uow, deps, priority="P1")
    await escalation.escalate_when_due(
        uow, deps, incident, tier="L1", reason="sla_breach"
    )  # not at L1: ignored
    await escalation.escalate_when_due(uow, deps, incident, tier="L2", reason="sla_breach")
    await escalation.escalate_when_due(uow, deps, incident, tier="L3", reason="sla_breach")
    assert uow.assignments.stored[incident].tier == "L3"
    [blocked] = uow.said(IncidentEscalationBlocked)
    assert (blocked.tier, blocked.cause, blocked.reason) == ("L3", "top_of_ladder", "sla_breach")
    assert len(uow.on_commit) == 3  # routed, escalated, blocked: a metric each, after commit


async def test_unacknowledged_it_is_renotified_then_escalated(uow: FakeUnitOfWork, deps: RouterDeps) -> None:
    incident = await route(uow, deps)
    assert await escalation.fire_ack_timeouts(uow, deps, limit=10) == 0
    deps.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    assert await escalation.fire_ack_timeouts(uow, deps, limit=10) == 1
    [renotified] = uow.said(IncidentRenotified)
    assert (renotified.attempt, renotified.of, renotified.assignee) == (1, 1, "ann")
    deps.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    assert await escalation.fire_ack_timeouts(uow, deps, limit=10) == 1
    [escalated] = uow.said(IncidentEscalated)
    assert (escalated.reason, escalated.to_tier) == ("no_ack", "L2")
    assert uow.assignments.stored[incident].tier == "L2"


async def test_a_vendor_giving_the_case_back_is_never_offered_it_again(
    uow: FakeUnitOfWork, deps: RouterDeps
) -> None:
    incident = await route(uow, deps, service="vpn")
    for _ in range(3):
        await escalation.escalate(uow, deps, incident, reason="manual")
    await vendor_returns.return_from_vendor(
        uow, deps, incident, vendor="initech", reason="vendor_rejected", note=None
    )
    assert uow.assignments.stored[incident].vendor == "acme"  # not initech's: ignored
    await vendor_returns.return_from_vendor(
        uow, deps, incident, vendor="acme", reason="vendor_rejected", note="no"
    )
    assignment = uow.assignments.stored[incident]
    assert (assignment.tier, assignment.rejected_by, assignment.vendor) == ("L3", ["acme"], None)
    await escalation.escalate(uow, deps, incident, reason="manual")
    assert uow.assignments.stored[incident].vendor == "initech"


async def test_an_edit_to_p1_climbs_to_its_ladders_entry(uow: FakeUnitOfWork, deps: RouterDeps) -> None:
    incident = await route(uow, deps)
    await updates.apply_update(uow, deps, updated(incident, "P1"))
    [escalated] = uow.said(IncidentEscalated)
    assert (escalated.reason, escalated.to_tier, escalated.queue) == ("priority_change", "L2", "tech")
    assert uow.assignments.stored[incident].policy == "p1"


async def test_an_edit_that_changes_the_queue_reroutes(uow: FakeUnitOfWork, deps: RouterDeps) -> None:
    incident = await route(uow, deps, service="vpn")
    await escalation.escalate(uow, deps, incident, reason="manual")
    assert uow.assignments.stored[incident].queue == "tech"
    await updates.apply_update(uow, deps, updated(incident, "P3", category="network"))
    assert uow.said(IncidentAssigned)[-1].reason == "rerouted"
    assert (uow.assignments.stored[incident].queue, uow.assignments.stored[incident].assignee) == (
        "net",
        "dan",
    )


async def test_a_reopened_incident_goes_back_to_its_agent(uow: FakeUnitOfWork, deps: RouterDeps) -> None:
    incident = await route(uow, deps)
    await lifecycle.release(uow, deps, incident)
    await lifecycle.reactivate(uow, deps, incident)
    last = uow.said(IncidentAssigned)[-1]
    assert (last.reason, last.assignee) == ("reopened", "ann")


async def test_an_absent_agents_incidents_go_to_someone_else(uow: FakeUnitOfWork, deps: RouterDeps) -> None:
    incident = await route(uow, deps)
    catalog = uow.catalog.catalog
    away = Catalog(
        agents={**catalog.agents, "ann": catalog.agents["ann"].model_copy(update={"available": False})},
        queues=catalog.queues,
        policies=catalog.policies,
    )
    assert await placement.reassign_held(uow, deps, away, "ann") == 1
    assert uow.assignments.stored[incident].assignee == "bob"
    assert uow.said(IncidentAssigned)[-1].reason == "reassigned"


def updated(incident_id: uuid.UUID, priority: str, category: str = "email") -> IncidentUpdated:
    return IncidentUpdated(
        incident_id=incident_id,
        changes={},
        priority=priority,
        service="mail",
        category=category,
        updated_at=T0,
    )
