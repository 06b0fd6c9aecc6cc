"""Moving incidents between tiers: by hand, when a budget is spent, when nobody acknowledges."""

from __future__ import annotations

import uuid

from tierline_router import metrics
from tierline_router.domain.assignment import VENDOR_TIER, Assignment
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import NoVendor, TopOfLadder, queue_for
from tierline_router.service_layer.placement import choose_agent, hand_out_freed, policy_of
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.errors import Conflict
from tierline_shared.events.routing import EscalationReason
from tierline_shared.logging import get_logger

_log = get_logger("tierline_router.service_layer.routing")  # the logger these lines were first logged by


class TierMoved(Conflict):
    """A person's move was asked from a tier the incident has left (someone else moved it first)."""

    type_slug = "tier-moved"
    title = "The incident is no longer at the tier the request expected"


def _check_tier(assignment: Assignment, expected: str | None) -> None:
    if expected is not None and assignment.tier != expected:
        raise TierMoved(
            f"the incident is at {assignment.tier} now, not {expected}; reload it and decide again",
            tier=assignment.tier,
            expected_tier=expected,
        )


async def move(
    uow: RouterUnitOfWork,
    deps: RouterDeps,
    catalog: Catalog,
    assignment: Assignment,
    target: str,
    *,
    reason: EscalationReason,
    note: str | None = None,
) -> Assignment:
    """Hand the incident to another tier (up or down) and say why; the agent it leaves takes new work."""
    policy = policy_of(catalog, assignment)
    now = deps.clock.now()
    previous = assignment.assignee
    if target == VENDOR_TIER:
        directory = await uow.vendors.directory()
        escalated = assignment.hand_to_vendor(
            deps.vendors, directory, policy, reason=reason, note=note, now=now
        )
    else:
        queue = queue_for(catalog.queues, target, assignment.subject)
        agent = await choose_agent(uow, catalog, queue, assignment.subject, now)
        escalated = assignment.move_to(target, queue.name, agent, policy, reason=reason, note=note, now=now)
    uow.assignments.save(assignment)
    await uow.announce(escalated)
    uow.after_commit(lambda: metrics.escalated(escalated.from_tier, escalated.to_tier, reason))
    if previous and previous != assignment.assignee:
        await hand_out_freed(uow, deps, catalog, previous)
    return assignment


async def escalate(
    uow: RouterUnitOfWork,
    deps: RouterDeps,
    incident_id: uuid.UUID,
    *,
    reason: EscalationReason,
    note: str | None = None,
    from_tier: str | None = None,
) -> Assignment:
    """One rung up the incident's ladder; a person may go past the ladder's top, up to L4.

    With ``from_tier`` (the tier the person saw) it moves only from that tier, else ``TierMoved``:
    a second click, or two people at once, escalate once.
    """
    await uow.lock_routing()
    assignment = await uow.assignments.load_or_404(incident_id, lock=True)
    _check_tier(assignment, from_tier)
    catalog = await uow.catalog.load()
    target = assignment.escalation_target(policy_of(catalog, assignment), reason=reason)
    return await move(uow, deps, catalog, assignment, target, reason=reason, note=note)


async def de_escalate(
    uow: RouterUnitOfWork,
    deps: RouterDeps,
    incident_id: uuid.UUID,
    *,
    to_tier: str | None,
    reason: EscalationReason,
    note: str | None,
    from_tier: str | None = None,
) -> Assignment:
    """Hand the incident back to a lower tier: the one asked for, else the ladder's rung below
    (only from ``from_tier`` when given, as ``escalate``)."""
    await uow.lock_routing()
    assignment = await uow.assignments.load_or_404(incident_id, lock=True)
    _check_tier(assignment, from_tier)
    catalog = await uow.catalog.load()
    target = assignment.de_escalation_target(policy_of(catalog, assignment), to_tier)
    return await move(uow, deps, catalog, assignment, target, reason=reason, note=note)


async def escalate_when_due(
    uow: RouterUnitOfWork, deps: RouterDeps, incident_id: uuid.UUID, *, tier: str, reason: EscalationReason
) -> None:
    """Functional escalation (budget spent, nobody acknowledged) — only if ``tier`` still holds the incident.

    When it cannot climb (top of the ladder, no vendor), the incident stays and an event says why.
    """
    await uow.lock_routing()
    assignment = await uow.assignments.load(incident_id, lock=True)
    if assignment is None or not assignment.is_active_at(tier):
        return
    try:
        async with uow.savepoint():
            await escalate(uow, deps, incident_id, reason=reason)
    except (TopOfLadder, NoVendor) as exc:
        await uow.announce(assignment.escalation_blocked(exc, reason=reason, now=deps.clock.now()))
        uow.after_commit(lambda: metrics.blocked(tier, reason))
        _log.warning("escalation_blocked", incident_id=str(incident_id), tier=tier, detail=exc.detail)


async def fire_ack_timeouts(uow: RouterUnitOfWork, deps: RouterDeps, *, limit: int) -> int:
    """Unacknowledged past the policy's timeout: re-notify up to its repeat count, then escalate (no_ack)."""
    await uow.lock_routing()
    now = deps.clock.now()
    overdue = await uow.assignments.ack_overdue(now, limit)
    if not overdue:
        return 0
    catalog = await uow.catalog.load()
    for assignment in overdue:
        reminder = assignment.remind(policy_of(catalog, assignment), now)
        uow.assignments.save(assignment)
        if reminder is not None:
            await uow.announce(reminder)
        else:
            await escalate_when_due(uow, deps, assignment.incident_id, tier=assignment.tier, reason="no_ack")
    return len(overdue)
