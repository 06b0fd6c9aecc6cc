"""Routing use cases on the real PostgreSQL: assignment, waiting, escalation ladders, hand-backs."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tierline_router.domain.model import BottomOfLadder, NoVendor, TopOfLadder
from tierline_router.service_layer import escalation, lifecycle, placement, queries, updates, vendor_returns
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared.errors import Conflict, InvalidInput
from tierline_shared.events import (
    FieldChange,
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    IncidentUpdated,
    VendorChanged,
)

from .conftest import T0, Harness, created

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"

pytestmark = pytest.mark.integration


async def test_new_incidents_enter_their_ladder_round_robin_once(harness: Harness) -> None:
    events = [created() for _ in range(4)]
    for event in [*events, events[0]]:  # the last one is a redelivery
        await harness.run(placement.assign_new_incident, event)
    major = created(priority="P1")
    await harness.run(placement.assign_new_incident, major)
    assigned = await harness.published(IncidentAssigned)
    assert [a.assignee for a in assigned[:4]] == ["ann", "bob", "cat", "ann"]
    assert {(a.tier, a.queue, a.tier_budget_seconds, a.reason) for a in assigned[:4]} == {
        ("L1", "desk", 10.0, "routed")
    }
    # a P1 skips the service desk: its policy's ladder starts at L2
    assert (assigned[4].tier, assigned[4].queue, assigned[4].tier_budget_seconds) == ("L2", "tech", 5.0)
    assert len(assigned) == 5


async def test_full_queue_waits_and_freed_capacity_takes_the_most_urgent_first(harness: Harness) -> None:
    held = [created() for _ in range(6)]  # three desk agents, capacity two each
    for event in held:
        await harness.run(placement.assign_new_incident, event)
    late_p4, late_p2 = created(priority="P4"), created(priority="P2")
    await harness.run(placement.assign_new_incident, late_p4)
    await harness.run(placement.assign_new_incident, late_p2)
    assert (await harness.row(late_p4.incident_id)).assignee is None
    waiting = await harness.row(late_p2.incident_id)
    assert waiting.assignee is None and waiting.waiting_since == T0 and waiting.queue == "desk"

    freed_by = (await harness.row(held[1].incident_id)).assignee
    await harness.run(lifecycle.release, held[1].incident_id)
    assert (await harness.row(late_p2.incident_id)).assignee == freed_by  # P2 before the older P4
    assert (await harness.row(late_p4.incident_id)).assignee is None
    dequeued = (await harness.published(IncidentAssigned))[-1]
    assert (dequeued.incident_id, dequeued.reason, dequeued.assignee) == (
        late_p2.incident_id,
        "dequeued",
        freed_by,
    )
    # nobody ever held more than their capacity
    async with harness.sessions() as s:
        loads = await RouterUnitOfWork(s, harness.deps.outbox).assignments.loads(["ann", "bob", "cat"])
        assert max(loads.values()) == 2


async def test_agent_going_away_hands_their_incidents_on_and_back_on_shift_takes_waiting(
    harness: Harness,
) -> None:
    from tierline_router.domain.model import Agent
    from tierline_router.service_layer import admin

    events = [created() for _ in range(3)]
    for event in events:
        await harness.run(placement.assign_new_incident, event)
    assert [(await harness.row(e.incident_id)).assignee for e in events] == ["ann", "bob", "cat"]
    harness.clock.advance(timedelta(seconds=3))

    await harness.run(admin.update_agent, Agent(name="ann", capacity=2, available=False))
    moved = await harness.row(events[0].incident_id)
    assert moved.assignee in ("bob", "cat") and moved.tier_entered_at == T0
    note = (await harness.published(IncidentAssigned))[-1]
    assert (note.reason, note.tier_entered_at, note.tier_budget_seconds) == ("reassigned", T0, 10.0)

    for name in ("bob", "cat"):
        await harness.run(admin.update_agent, Agent(name=name, capacity=2, available=False))
    assert {(await harness.row(e.incident_id)).assignee for e in events} == {None}

    await harness.run(admin.update_agent, Agent(name="ann", capacity=2, available=True))
    holders = Counter([(await harness.row(e.incident_id)).assignee for e in events])
    assert holders == Counter({"ann": 2, None: 1})  # ann takes work up to her capacity, the rest waits


async def test_ladder_climbs_to_the_vendor_with_its_contract(harness: Harness) -> None:
    event = created(service="vpn", category="network")
    await harness.run(placement.assign_new_incident, event)
    for _ in range(3):
        await harness.run(escalation.escalate, event.incident_id, reason="manual", note="customer VIP")
    with pytest.raises(TopOfLadder):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")
    moves = await harness.published(IncidentEscalated)
    assert [(e.from_tier, e.to_tier, e.direction) for e in moves] == [
        ("L1", "L2", "up"),
        ("L2", "L3", "up"),
        ("L3", "L4", "up"),
    ]
    assert [(e.queue, e.assignee) for e in moves] == [("net", "dan"), ("experts", None), (None, None)]
    assert [e.tier_budget_seconds for e in moves] == [20.0, 30.0, None]
    assert moves[-1].vendor == "acme"
    assert moves[-1].vendor_contract.model_dump() == {
        "response_seconds": 3600.0,
        "resolution_seconds": 28800.0,
    }
    row = await harness.row(event.incident_id)
    assert (row.tier, row.escalations, row.waiting_since) == ("L4", 3, None)


async def test_simultaneous_breaches_of_one_tier_escalate_once(harness: Harness) -> None:
    event = created()
    await harness.run(placement.assign_new_incident, event)
    await asyncio.gather(
        *(
            harness.run(escalation.escalate_when_due, event.incident_id, tier="L1", reason="sla_breach")
            for _ in range(5)
        )
    )
    row = await harness.row(event.incident_id)
    assert (row.tier, row.escalations) == ("L2", 1)
    assert [e.reason for e in await harness.published(IncidentEscalated)] == ["sla_breach"]


async def test_breach_with_no_vendor_keeps_the_incident_and_says_why(harness: Harness) -> None:
    event = created(service="mail")
    await harness.run(placement.assign_new_incident, event)
    for tier in ("L1", "L2", "L3"):
        await harness.run(escalation.escalate_when_due, event.incident_id, tier=tier, reason="sla_breach")
    row = await harness.row(event.incident_id)
    assert row.tier == "L3"
    [blocked] = await harness.published(IncidentEscalationBlocked)
    assert (blocked.tier, blocked.cause, blocked.reason) == ("L3", "no_vendor", "sla_breach")
    with pytest.raises(NoVendor):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")


async def test_vendors_that_reject_or_fail_hand_back_to_l3_and_are_skipped(harness: Harness) -> None:
    event = created(service="vpn", category="network")
    await harness.run(placement.assign_new_incident, event)
    for _ in range(3):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")
    await harness.run(
        vendor_returns.return_from_vendor,
        event.incident_id,
        vendor="initech",
        reason="vendor_rejected",
        note="x",
    )  # not the vendor holding it: ignored
    assert (await harness.row(event.incident_id)).vendor == "acme"
    await harness.run(
        vendor_returns.return_from_vendor,
        event.incident_id,
        vendor="acme",
        reason="vendor_rejected",
        note="no contract",
    )
    back = (await harness.published(IncidentEscalated))[-1]
    assert (back.from_tier, back.to_tier, back.direction, back.reason, back.note) == (
        "L4",
        "L3",
        "down",
        "vendor_rejected",
        "no contract",
    )
    await harness.run(escalation.escalate, event.incident_id, reason="manual")
    assert (await harness.row(event.incident_id)).vendor == "initech"
    await harness.run(
        vendor_returns.return_from_vendor,
        event.incident_id,
        vendor="initech",
        reason="vendor_unreachable",
        note="down",
    )
    with pytest.raises(NoVendor):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")
    row = await harness.row(event.incident_id)
    assert (row.tier, sorted(row.rejected_by)) == ("L3", ["acme", "initech"])


async def test_de_escalation_goes_down_the_ladder_with_a_reason(harness: Harness) -> None:
    event = created(category="network")
    await harness.run(placement.assign_new_incident, event)
    await harness.run(escalation.escalate, event.incident_id, reason="manual")
    with pytest.raises(InvalidInput):
        await harness.run(
            escalation.de_escalate, event.incident_id, to_tier="L3", reason="manual", note="up?"
        )
    await harness.run(
        escalation.de_escalate, event.incident_id, to_tier=None, reason="manual", note="desk can do it"
    )
    down = (await harness.published(IncidentEscalated))[-1]
    assert (down.from_tier, down.to_tier, down.direction, down.note, down.queue) == (
        "L2",
        "L1",
        "down",
        "desk can do it",
        "desk",
    )
    assert (await harness.row(event.incident_id)).escalations == 1  # going down is not an escalation
    with pytest.raises(BottomOfLadder):
        await harness.run(
            escalation.de_escalate, event.incident_id, to_tier=None, reason="manual", note="lower?"
        )


async def test_unacknowledged_incident_is_renotified_then_escalated_no_ack(harness: Harness) -> None:
    event, acked = created(priority="P1"), created(priority="P1")
    await harness.run(placement.assign_new_incident, event)
    await harness.run(placement.assign_new_incident, acked)
    await harness.run(lifecycle.acknowledge, acked.incident_id)
    for attempt in (1, 2):
        harness.clock.advance(timedelta(seconds=59))
        assert await harness.run(escalation.fire_ack_timeouts, limit=10) == 0  # not yet due
        harness.clock.advance(timedelta(seconds=1))
        assert await harness.run(escalation.fire_ack_timeouts, limit=10) == 1
        renotified = (await harness.published(IncidentRenotified))[-1]
        assert (renotified.attempt, renotified.of, renotified.incident_id) == (attempt, 2, event.incident_id)
    harness.clock.advance(timedelta(seconds=60))
    await harness.run(escalation.fire_ack_timeouts, limit=10)
    [escalated] = await harness.published(IncidentEscalated)
    assert (escalated.incident_id, escalated.to_tier, escalated.reason) == (
        event.incident_id,
        "L3",
        "no_ack",
    )
    assert (await harness.row(acked.incident_id)).tier == "L2"


async def test_priority_change_reapplies_the_policy(harness: Harness) -> None:
    raised, recategorised, budget_only = created(), created(category="email"), created()
    for event in (raised, recategorised, budget_only):
        await harness.run(placement.assign_new_incident, event)
    await harness.run(escalation.escalate, recategorised.incident_id, reason="manual")  # L2 tech
    await harness.run(escalation.escalate, budget_only.incident_id, reason="manual")  # L2 tech

    def updated(event, priority: str, category: str | None = None) -> IncidentUpdated:
        changes = {"priority": FieldChange(old=event.priority, new=priority)}
        if category:
            changes["category"] = FieldChange(old=event.category, new=category)
        return IncidentUpdated(
            incident_id=event.incident_id,
            changes=changes,
            priority=priority,
            service=event.service,
            category=category or event.category,
            updated_at=T0,
        )

    await harness.run(updates.apply_update, updated(raised, "P1"))
    up = (await harness.published(IncidentEscalated))[-1]
    assert (up.incident_id, up.from_tier, up.to_tier, up.reason) == (
        raised.incident_id,
        "L1",
        "L2",
        "priority_change",
    )

    await harness.run(updates.apply_update, updated(recategorised, "P3", "network"))
    *_, rerouted, dequeued = await harness.published(IncidentAssigned)
    assert (rerouted.incident_id, rerouted.reason, rerouted.queue, rerouted.assignee) == (
        recategorised.incident_id,
        "rerouted",
        "net",
        "dan",
    )
    # bob's freed capacity in tech goes to the raised incident, which waited there (bob alone, capacity 2)
    assert (dequeued.incident_id, dequeued.reason, dequeued.assignee) == (
        raised.incident_id,
        "dequeued",
        "bob",
    )

    before = (await harness.row(budget_only.incident_id)).tier_entered_at
    await harness.run(updates.apply_update, updated(budget_only, "P1"))
    rebudgeted = (await harness.published(IncidentAssigned))[-1]
    assert (rebudgeted.reason, rebudgeted.tier_budget_seconds, rebudgeted.tier_entered_at) == (
        "priority_change",
        5.0,
        before,
    )
    count = len(await harness.published())
    await harness.run(updates.apply_update, updated(budget_only, "P1"))  # nothing changed: nothing said
    assert len(await harness.published()) == count


async def test_resolution_releases_and_reopen_returns_to_the_same_agent(harness: Harness) -> None:
    event = created()
    await harness.run(placement.assign_new_incident, event)
    await harness.run(lifecycle.release, event.incident_id)
    with pytest.raises(Conflict):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")
    await harness.run(
        escalation.escalate_when_due, event.incident_id, tier="L1", reason="sla_breach"
    )  # ignored
    harness.clock.advance(timedelta(minutes=5))
    await harness.run(lifecycle.reactivate, event.incident_id)
    again = (await harness.published(IncidentAssigned))[-1]
    assert (again.reason, again.assignee, again.tier_entered_at) == (
        "reopened",
        "ann",
        T0 + timedelta(minutes=5),
    )
    assert (await harness.row(event.incident_id)).status == "active"


@pytest.mark.parametrize("priority", ["P1", "P2", "P3", "P4"])
async def test_shipped_policy_ladder_for_every_priority(router_db, priority: str) -> None:
    """Breach after breach, each priority climbs its shipped ladder with each rung's budget, to a vendor."""
    from tierline_router.config import Settings, load_routing
    from tierline_router.service_layer import admin

    shipped = load_routing(Settings(config_dir=CONFIG_DIR))
    h = Harness(router_db, shipped)
    await h.run(admin.apply_config, shipped)
    event = created(service="vpn", category="network", priority=priority)
    await h.run(placement.assign_new_incident, event)
    subject = (await h.run(lambda uow, _: queries.assignment(uow, event.incident_id))).subject
    policy = next(p for p in shipped.escalation_policies if p.matches(subject))
    while (row := await h.row(event.incident_id)).tier != "L4":
        await h.run(escalation.escalate_when_due, event.incident_id, tier=row.tier, reason="sla_breach")
    [entry] = await h.published(IncidentAssigned)
    climbs = await h.published(IncidentEscalated)
    rungs = [(s.tier, s.budget.total_seconds() if s.budget else None) for s in policy.ladder]
    assert [(entry.tier, entry.tier_budget_seconds)] + [
        (e.to_tier, e.tier_budget_seconds) for e in climbs
    ] == rungs
    assert {e.reason for e in climbs} == {"sla_breach"}
    assert climbs[-1].vendor == "acme-networks"
    assert [e.queue for e in climbs[:-1]] == ["network-ops", "sre-experts"][-len(climbs[:-1]) :]


def listed(vendor: str, revision: int, **fields: Any) -> VendorChanged:
    return VendorChanged(vendor=vendor, revision=revision, changed_at=T0, **{"is_enabled": True, **fields})


async def test_the_gateways_vendor_listing_decides_when_no_rule_does(harness: Harness) -> None:
    event = created(service="laptops", category="hardware")
    await harness.run(placement.assign_new_incident, event)
    for _ in range(2):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")
    with pytest.raises(NoVendor):  # no rule, nobody listed yet
        await harness.run(escalation.escalate, event.incident_id, reason="manual")

    contract = {"response_seconds": 7200.0, "resolution_seconds": None}
    fresh = listed("globex", 2, categories=["hardware"], contract=contract)
    stale = listed("globex", 1, categories=[], is_enabled=False)
    async with harness.sessions() as session, session.begin():
        directory = RouterUnitOfWork(session, harness.deps.outbox).vendors
        await directory.record(fresh)
        await directory.record(stale)  # older news arriving late changes nothing
    await harness.run(escalation.escalate, event.incident_id, reason="manual")
    up = (await harness.published(IncidentEscalated))[-1]
    assert (up.to_tier, up.vendor, up.vendor_contract.model_dump()) == ("L4", "globex", contract)


async def test_a_vendor_that_takes_no_cases_is_passed_over(harness: Harness) -> None:
    async with harness.sessions() as session, session.begin():
        await RouterUnitOfWork(session, harness.deps.outbox).vendors.record(
            listed("acme", 1, is_enabled=False)
        )
    event = created(service="vpn", category="network")
    await harness.run(placement.assign_new_incident, event)
    for _ in range(3):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")
    row = await harness.row(event.incident_id)
    assert row.vendor == "initech", "acme's rule comes first, but acme takes no cases"
    await harness.run(
        vendor_returns.return_from_vendor,
        event.incident_id,
        vendor="initech",
        reason="vendor_rejected",
        note="x",
    )
    with pytest.raises(NoVendor, match=r"turned away by initech\) \(disabled: acme\)"):
        await harness.run(escalation.escalate, event.incident_id, reason="manual")


async def test_open_incidents_are_counted_by_tier_and_priority_for_the_dashboard(harness: Harness) -> None:
    from prometheus_client import REGISTRY

    from tierline_router import metrics

    for priority in ("P1", "P3", "P3"):
        await harness.run(placement.assign_new_incident, created(priority=priority))
    async with harness.sessions() as session:
        counts = await RouterUnitOfWork(session, harness.deps.outbox).assignments.open_by_tier_and_priority()
    assert counts == {("L2", "P1"): 1, ("L1", "P3"): 2}  # this config's P1 ladder starts at L2
    metrics.observe_open(counts)

    def gauge(tier: str, priority: str) -> float | None:
        return REGISTRY.get_sample_value(
            "tierline_router_open_incidents", {"tier": tier, "priority": priority}
        )

    assert (gauge("L2", "P1"), gauge("L1", "P3"), gauge("L1", "P1"), gauge("L4", "P4")) == (1, 2, 0, 0)
