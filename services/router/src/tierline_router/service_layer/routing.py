"""The router's use cases: route a new incident, move it between tiers, hand it to a free agent.

Every use case first takes the router's advisory lock, so replicas (and a breach racing a
manual escalation) make routing decisions one at a time against the same queue positions
and agent loads: nobody is assigned past capacity and no incident moves twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router import metrics
from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import AssignmentRow, QueueRow
from tierline_router.adapters.repository import ACTIVE, RELEASED, Catalog
from tierline_router.domain.model import (
    HUMAN_TIERS,
    TIERS,
    BottomOfLadder,
    EscalationPolicy,
    ListedVendor,
    NoVendor,
    Queue,
    Subject,
    TopOfLadder,
    VendorRule,
    next_tier,
    policy_for,
    queue_for,
    vendor_for,
)
from tierline_router.domain.strategies import pick_agent
from tierline_shared.clock import Clock
from tierline_shared.db import advisory_xact_lock, on_commit
from tierline_shared.errors import Conflict, InvalidInput
from tierline_shared.events import (
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    IncidentUpdated,
    VendorContract,
)
from tierline_shared.logging import get_logger
from tierline_shared.messaging.outbox import Outbox

_log = get_logger(__name__)
ROUTING_LOCK = "tierline.router.routing"


@dataclass(frozen=True)
class RouterDeps:
    outbox: Outbox
    clock: Clock
    vendors: list[VendorRule]


async def lock_routing(session: AsyncSession) -> None:
    await advisory_xact_lock(session, ROUTING_LOCK)


def subject_of(row: AssignmentRow) -> Subject:
    return Subject.model_validate(
        {"service": row.service, "category": row.category, "priority": row.priority, "product": row.product}
    )


def policy_of(catalog: Catalog, row: AssignmentRow) -> EscalationPolicy:
    """The policy the incident runs on; if that one was deleted, the one that matches it now."""
    return catalog.policy(row.policy) or policy_for(catalog.policies, subject_of(row))


def _seconds(budget: timedelta | None) -> float | None:
    return budget.total_seconds() if budget is not None else None


async def _choose(session: AsyncSession, catalog: Catalog, queue: Queue, subject: Subject) -> str | None:
    queue_row = await session.get(QueueRow, queue.name, with_for_update=True)
    if queue_row is None:
        return None
    pick = pick_agent(queue, await repo.candidates(session, catalog, queue), queue_row.position, subject)
    queue_row.position = pick.position
    return pick.agent


def _arm_ack(row: AssignmentRow, policy: EscalationPolicy, now: datetime) -> None:
    """Someone new holds an unacknowledged incident: their acknowledgement timer starts."""
    row.renotified = 0
    if row.assignee and not row.is_acknowledged and policy.ack_timeout and row.status == ACTIVE:
        row.ack_due_at = now + policy.ack_timeout
    else:
        row.ack_due_at = None


async def _place(
    session: AsyncSession,
    catalog: Catalog,
    row: AssignmentRow,
    queue: Queue,
    policy: EscalationPolicy,
    now: datetime,
) -> None:
    """Put the incident in ``queue`` with whoever the queue's strategy picks, or waiting for someone."""
    row.queue = queue.name
    row.assignee = await _choose(session, catalog, queue, subject_of(row))
    row.waiting_since = None if row.assignee else (row.waiting_since or now)
    _arm_ack(row, policy, now)


async def _announce_assigned(
    session: AsyncSession,
    deps: RouterDeps,
    row: AssignmentRow,
    policy: EscalationPolicy,
    reason: str,
    now: datetime,
) -> None:
    assert row.queue is not None
    await deps.outbox.add(
        session,
        IncidentAssigned(
            incident_id=row.incident_id,
            tier=row.tier,  # type: ignore[arg-type]
            queue=row.queue,
            assignee=row.assignee,
            reason=reason,  # type: ignore[arg-type]
            tier_budget_seconds=_seconds(policy.budget(row.tier)),
            tier_entered_at=row.tier_entered_at,
            assigned_at=now,
        ),
    )
    on_commit(session, lambda: metrics.assigned(row.tier, reason, waiting=row.assignee is None))


async def assign_new_incident(session: AsyncSession, deps: RouterDeps, event: IncidentCreated) -> None:
    await lock_routing(session)
    if await repo.find_assignment(session, event.incident_id) is not None:
        return
    catalog = await repo.load_catalog(session)
    subject = Subject(
        service=event.service, category=event.category, priority=event.priority, product=event.product
    )
    policy = policy_for(catalog.policies, subject)
    now = deps.clock.now()
    row = AssignmentRow(
        incident_id=event.incident_id,
        service=event.service,
        category=event.category,
        product=event.product,
        priority=event.priority,
        policy=policy.name,
        tier=policy.entry_tier,
        tier_entered_at=now,
        status=ACTIVE,
        is_acknowledged=False,
        renotified=0,
        escalations=0,
        rejected_by=[],
        created_at=now,
        updated_at=now,
    )
    await _place(session, catalog, row, queue_for(catalog.queues, row.tier, subject), policy, now)
    session.add(row)
    await _announce_assigned(session, deps, row, policy, "routed", now)


def _disabled(directory: dict[str, ListedVendor]) -> list[str]:
    return [name for name, listed in directory.items() if not listed.is_enabled]


async def _move(
    session: AsyncSession,
    deps: RouterDeps,
    catalog: Catalog,
    row: AssignmentRow,
    target: str,
    *,
    reason: str,
    note: str | None = None,
) -> AssignmentRow:
    """Hand the incident to another tier (up or down) and say why."""
    policy = policy_of(catalog, row)
    subject = subject_of(row)
    now = deps.clock.now()
    contract: VendorContract | None = None
    if target == "L4":
        directory = await repo.vendor_directory(session)
        rule = vendor_for(deps.vendors, subject, excluded=row.rejected_by, directory=directory)
        if rule is None:
            raise NoVendor(
                f"No vendor takes service {row.service!r}, category {row.category!r}"
                + (f" or product {row.product!r}" if row.product else "")
                + (f" (turned away by {', '.join(row.rejected_by)})" if row.rejected_by else "")
                + (f" (disabled: {', '.join(sorted(off))})" if (off := _disabled(directory)) else "")
                + f"; the incident stays at {row.tier}.",
                service=row.service,
                category=row.category,
            )
        contract = VendorContract(
            response_seconds=_seconds(rule.contract.response),
            resolution_seconds=_seconds(rule.contract.resolution),
        )
    previous, from_tier = row.assignee, row.tier
    direction = "up" if TIERS.index(target) > TIERS.index(from_tier) else "down"
    row.tier, row.tier_entered_at, row.updated_at = target, now, now
    row.waiting_since = None
    if target == "L4":
        assert contract is not None and rule is not None
        row.vendor, row.queue, row.assignee, row.ack_due_at = rule.vendor, None, None, None
    else:
        row.vendor = None
        await _place(session, catalog, row, queue_for(catalog.queues, target, subject), policy, now)
    if direction == "up":
        row.escalations += 1
    await deps.outbox.add(
        session,
        IncidentEscalated(
            incident_id=row.incident_id,
            from_tier=from_tier,  # type: ignore[arg-type]
            to_tier=target,  # type: ignore[arg-type]
            direction=direction,
            reason=reason,  # type: ignore[arg-type]
            note=note,
            queue=row.queue,
            assignee=row.assignee,
            vendor=row.vendor,
            vendor_contract=contract,
            tier_budget_seconds=_seconds(policy.budget(target)),
            escalated_at=now,
        ),
    )
    on_commit(session, lambda: metrics.escalated(from_tier, target, reason))
    if previous and previous != row.assignee:
        await _hand_out_freed(session, deps, catalog, previous)
    return row


async def _active(session: AsyncSession, incident_id: uuid.UUID) -> AssignmentRow:
    row = await repo.get_assignment(session, incident_id, lock=True)
    if row.status != ACTIVE:
        raise Conflict(
            "The incident is resolved; it no longer moves between tiers.", assignment_status=row.status
        )
    return row


async def escalate(
    session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID, *, reason: str, note: str | None = None
) -> AssignmentRow:
    """One rung up the incident's ladder; a person may go past the ladder's top, up to L4."""
    await lock_routing(session)
    row = await _active(session, incident_id)
    catalog = await repo.load_catalog(session)
    target = policy_of(catalog, row).tier_above(row.tier)
    if target is None:
        if reason != "manual":
            raise TopOfLadder(
                f"The incident is at the top of its escalation ladder ({row.tier}).", tier=row.tier
            )
        target = next_tier(row.tier)
    return await _move(session, deps, catalog, row, target, reason=reason, note=note)


async def de_escalate(
    session: AsyncSession,
    deps: RouterDeps,
    incident_id: uuid.UUID,
    *,
    to_tier: str | None,
    reason: str,
    note: str | None,
) -> AssignmentRow:
    """Hand the incident back to a lower tier: the one asked for, else the ladder's rung below."""
    await lock_routing(session)
    row = await _active(session, incident_id)
    catalog = await repo.load_catalog(session)
    target = to_tier or policy_of(catalog, row).tier_below(row.tier)
    if target is None:
        raise BottomOfLadder(f"The incident is at {row.tier}; there is no lower tier.", tier=row.tier)
    if TIERS.index(target) >= TIERS.index(row.tier) or target not in HUMAN_TIERS:
        raise InvalidInput(
            f"to_tier must be a human tier below the current one ({row.tier}).",
            errors=[
                {"field": "to_tier", "reason": f"not a human tier below {row.tier}", "pointer": "/to_tier"}
            ],
            tier=row.tier,
        )
    return await _move(session, deps, catalog, row, target, reason=reason, note=note)


async def escalate_when_due(
    session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID, *, tier: str, reason: str
) -> None:
    """Functional escalation (budget spent, nobody acknowledged) — only if ``tier`` still holds the incident.

    When it cannot climb (top of the ladder, no vendor), the incident stays and an event says why.
    """
    await lock_routing(session)
    row = await repo.find_assignment(session, incident_id, lock=True)
    if row is None or row.status != ACTIVE or row.tier != tier:
        return
    try:
        async with session.begin_nested():
            await escalate(session, deps, incident_id, reason=reason)
    except (TopOfLadder, NoVendor) as exc:
        await deps.outbox.add(
            session,
            IncidentEscalationBlocked(
                incident_id=incident_id,
                tier=tier,  # type: ignore[arg-type]
                reason=reason,  # type: ignore[arg-type]
                cause="top_of_ladder" if isinstance(exc, TopOfLadder) else "no_vendor",
                detail=exc.detail,
                at=deps.clock.now(),
            ),
        )
        on_commit(session, lambda: metrics.blocked(tier, reason))
        _log.warning("escalation_blocked", incident_id=str(incident_id), tier=tier, detail=exc.detail)


async def return_from_vendor(
    session: AsyncSession,
    deps: RouterDeps,
    incident_id: uuid.UUID,
    *,
    vendor: str,
    reason: str,
    note: str | None,
) -> None:
    """The vendor turned the case down or could not be reached: back to the tier below L4."""
    await lock_routing(session)
    row = await repo.find_assignment(session, incident_id, lock=True)
    if row is None or row.status != ACTIVE or row.tier != "L4" or row.vendor != vendor:
        return
    row.rejected_by = sorted({*row.rejected_by, vendor})
    catalog = await repo.load_catalog(session)
    target = policy_of(catalog, row).tier_below("L4") or "L3"
    await _move(session, deps, catalog, row, target, reason=reason, note=note)


async def acknowledge(session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    await lock_routing(session)
    row = await repo.find_assignment(session, incident_id, lock=True)
    if row is None:
        return
    row.is_acknowledged, row.ack_due_at, row.updated_at = True, None, deps.clock.now()


async def release(session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    """Resolution: the assignment ends and the agent's capacity goes to whoever waits."""
    await lock_routing(session)
    row = await repo.find_assignment(session, incident_id, lock=True)
    if row is None or row.status == RELEASED:
        return
    row.status, row.ack_due_at, row.waiting_since = RELEASED, None, None
    row.updated_at = deps.clock.now()
    if row.assignee:
        await _hand_out_freed(session, deps, await repo.load_catalog(session), row.assignee)


async def reactivate(session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    """A reopened incident goes back to the tier that had it, to the same agent if they can take it."""
    await lock_routing(session)
    row = await repo.find_assignment(session, incident_id, lock=True)
    if row is None or row.status == ACTIVE:
        return
    now = deps.clock.now()
    row.status, row.is_acknowledged, row.updated_at = ACTIVE, False, now
    if row.tier not in HUMAN_TIERS:
        return  # the vendor still holds the case
    catalog = await repo.load_catalog(session)
    policy = policy_of(catalog, row)
    queue = catalog.queue(row.queue) or queue_for(catalog.queues, row.tier, subject_of(row))
    row.tier_entered_at = now
    previous = row.assignee
    members = {c.name: c for c in await repo.candidates(session, catalog, queue)}
    again = members.get(previous) if previous else None
    # their load already counts this incident again: can they hold it without it?
    if again is not None and replace(again, load=again.load - 1).is_eligible(frozenset(queue.skills)):
        row.queue = queue.name
        _arm_ack(row, policy, now)
    else:
        row.assignee = None
        await _place(session, catalog, row, queue, policy, now)
    await _announce_assigned(session, deps, row, policy, "reopened", now)


async def apply_update(session: AsyncSession, deps: RouterDeps, event: IncidentUpdated) -> None:
    """An edit may change the incident's policy, queue or budgets: re-apply them."""
    await lock_routing(session)
    row = await repo.find_assignment(session, event.incident_id, lock=True)
    if row is None:
        return
    now = deps.clock.now()
    catalog = await repo.load_catalog(session)
    old_policy = policy_of(catalog, row)
    row.priority, row.service, row.category = event.priority, event.service, event.category
    if "product" in event.changes:
        row.product = event.product
    row.updated_at = now
    if row.status != ACTIVE or row.tier not in HUMAN_TIERS:
        return
    subject = subject_of(row)
    policy = policy_for(catalog.policies, subject)
    row.policy = policy.name
    if TIERS.index(row.tier) < TIERS.index(policy.entry_tier):
        # the new priority's ladder starts higher (a P1 may skip the service desk)
        await _move(session, deps, catalog, row, policy.entry_tier, reason="priority_change")
        return
    queue = queue_for(catalog.queues, row.tier, subject)
    if queue.name != row.queue:
        previous = row.assignee
        row.assignee = None
        await _place(session, catalog, row, queue, policy, now)
        await _announce_assigned(session, deps, row, policy, "rerouted", now)
        if previous:
            await _hand_out_freed(session, deps, catalog, previous)
    elif (
        policy.budget(row.tier) != old_policy.budget(row.tier) or policy.ack_timeout != old_policy.ack_timeout
    ):
        if row.ack_due_at is not None:
            _arm_ack(row, policy, now)
        await _announce_assigned(session, deps, row, policy, "priority_change", now)


async def hand_out_waiting(session: AsyncSession, deps: RouterDeps, catalog: Catalog, queue: Queue) -> int:
    """Give waiting incidents to whoever in ``queue`` can take one now; returns how many went."""
    handed = 0
    for row in await repo.waiting_in(session, queue.name):
        policy = policy_of(catalog, row)
        now = deps.clock.now()
        await _place(session, catalog, row, queue, policy, now)
        if row.assignee is None:
            break
        row.updated_at = now
        handed += 1
        await _announce_assigned(session, deps, row, policy, "dequeued", now)
    return handed


async def _hand_out_freed(session: AsyncSession, deps: RouterDeps, catalog: Catalog, agent: str) -> None:
    for queue in catalog.queues:
        if agent in queue.agents:
            await hand_out_waiting(session, deps, catalog, queue)


async def reassign_held(
    session: AsyncSession, deps: RouterDeps, catalog: Catalog, agent: str, queue: str | None = None
) -> int:
    """The agent went away (or left ``queue``): their open incidents go to someone else, or wait."""
    moved = 0
    for row in await repo.held_by(session, agent, queue):
        home = catalog.queue(row.queue)
        if home is None:
            continue
        policy = policy_of(catalog, row)
        now = deps.clock.now()
        row.assignee, row.updated_at = None, now
        await _place(session, catalog, row, home, policy, now)
        await _announce_assigned(session, deps, row, policy, "reassigned", now)
        moved += 1
    return moved


async def fire_ack_timeouts(session: AsyncSession, deps: RouterDeps, *, limit: int) -> int:
    """Unacknowledged past the policy's timeout: re-notify up to its repeat count, then escalate (no_ack)."""
    await lock_routing(session)
    now = deps.clock.now()
    rows = await repo.ack_overdue(session, now, limit)
    if not rows:
        return 0
    catalog = await repo.load_catalog(session)
    for row in rows:
        policy = policy_of(catalog, row)
        if policy.ack_timeout is not None and row.renotified < policy.repeat:
            row.renotified += 1
            row.ack_due_at = now + policy.ack_timeout
            await deps.outbox.add(
                session,
                IncidentRenotified(
                    incident_id=row.incident_id,
                    tier=row.tier,  # type: ignore[arg-type]
                    queue=row.queue,
                    assignee=row.assignee,
                    attempt=row.renotified,
                    of=policy.repeat,
                    at=now,
                ),
            )
        else:
            row.ack_due_at = None
            await escalate_when_due(session, deps, row.incident_id, tier=row.tier, reason="no_ack")
    return len(rows)
