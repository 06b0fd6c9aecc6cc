"""The router's use cases: assign a new incident, escalate it, release it.

Every function runs in the caller's unit of work and locks the assignment row,
so two replicas (or a breach racing a manual escalation) cannot both move it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.orm import AssignmentRow, QueueCursorRow
from tierline_router.domain.model import NoVendor, RoutingPolicy, next_tier, round_robin
from tierline_shared.clock import Clock
from tierline_shared.errors import Conflict, NotFound
from tierline_shared.events import IncidentAssigned, IncidentCreated, IncidentEscalated
from tierline_shared.logging import get_logger
from tierline_shared.messaging.outbox import Outbox

_log = get_logger(__name__)
ACTIVE, RELEASED = "active", "released"


@dataclass(frozen=True)
class RouterDeps:
    outbox: Outbox
    clock: Clock
    policy: RoutingPolicy


async def _next_agent(session: AsyncSession, queue: str, agents: list[str]) -> str | None:
    await session.execute(insert(QueueCursorRow).values(queue=queue, position=0).on_conflict_do_nothing())
    cursor = await session.scalar(
        select(QueueCursorRow).where(QueueCursorRow.queue == queue).with_for_update()
    )
    assert cursor is not None
    agent, cursor.position = round_robin(agents, cursor.position)
    return agent


async def get_assignment(
    session: AsyncSession, incident_id: uuid.UUID, *, lock: bool = False
) -> AssignmentRow:
    stmt = select(AssignmentRow).where(AssignmentRow.incident_id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"The router holds no incident {incident_id}.")
    return row


async def assign_new_incident(session: AsyncSession, deps: RouterDeps, event: IncidentCreated) -> None:
    exists = await session.scalar(
        select(AssignmentRow.incident_id).where(AssignmentRow.incident_id == event.incident_id)
    )
    if exists is not None:
        return
    queue = deps.policy.queue_for("L1", event.service, event.category)
    assignee = await _next_agent(session, queue.name, queue.agents)
    budget = deps.policy.budget(event.priority, "L1")
    now = deps.clock.now()
    session.add(
        AssignmentRow(
            incident_id=event.incident_id,
            service=event.service,
            category=event.category,
            priority=event.priority,
            tier="L1",
            queue=queue.name,
            assignee=assignee,
            status=ACTIVE,
            escalations=0,
            created_at=now,
            updated_at=now,
        )
    )
    await deps.outbox.add(
        session,
        IncidentAssigned(
            incident_id=event.incident_id,
            tier="L1",
            queue=queue.name,
            assignee=assignee,
            tier_budget_seconds=budget.total_seconds() if budget else None,
            assigned_at=now,
        ),
    )


async def escalate(
    session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID, *, reason: str, note: str | None = None
) -> AssignmentRow:
    row = await get_assignment(session, incident_id, lock=True)
    if row.status != ACTIVE:
        raise Conflict("The incident is resolved; there is nothing to escalate.", status=row.status)
    target = next_tier(row.tier)
    queue_name: str | None = None
    assignee: str | None = None
    vendor: str | None = None
    if target == "L4":
        vendor = deps.policy.vendor_for(row.service, row.category)
        if vendor is None:
            raise NoVendor(
                f"No vendor is configured for service {row.service!r} or category {row.category!r}; "
                "the incident stays at L3.",
                service=row.service,
                category=row.category,
            )
    else:
        queue = deps.policy.queue_for(target, row.service, row.category)
        queue_name = queue.name
        assignee = await _next_agent(session, queue.name, queue.agents)
    budget = deps.policy.budget(row.priority, target)
    now = deps.clock.now()
    from_tier = row.tier
    row.tier, row.queue, row.assignee, row.vendor = target, queue_name, assignee, vendor
    row.escalations += 1
    row.updated_at = now
    await deps.outbox.add(
        session,
        IncidentEscalated(
            incident_id=row.incident_id,
            from_tier=from_tier,
            to_tier=target,
            reason=reason,
            note=note,
            queue=queue_name,
            assignee=assignee,
            vendor=vendor,
            tier_budget_seconds=budget.total_seconds() if budget else None,
            escalated_at=now,
        ),
    )
    return row


async def escalate_on_breach(
    session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID, tier: str
) -> None:
    """Functional escalation when a tier's budget ran out — only if it still holds the incident."""
    row = await session.scalar(
        select(AssignmentRow).where(AssignmentRow.incident_id == incident_id).with_for_update()
    )
    if row is None or row.status != ACTIVE or row.tier != tier:
        return  # already moved on, resolved, or never routed here
    try:
        async with session.begin_nested():
            await escalate(session, deps, incident_id, reason="sla_breach")
    except Conflict as exc:
        _log.warning("escalation_not_possible", incident_id=str(incident_id), reason=exc.detail)


async def release(session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    row = await session.scalar(
        select(AssignmentRow).where(AssignmentRow.incident_id == incident_id).with_for_update()
    )
    if row is None or row.status == RELEASED:
        return
    row.status = RELEASED
    row.updated_at = deps.clock.now()


async def apply_update(
    session: AsyncSession,
    deps: RouterDeps,
    incident_id: uuid.UUID,
    *,
    priority: str,
    service: str,
    category: str,
) -> None:
    """Keep what routing decisions depend on current; later escalations use the new priority's budgets."""
    row = await session.scalar(
        select(AssignmentRow).where(AssignmentRow.incident_id == incident_id).with_for_update()
    )
    if row is None:
        return
    row.priority, row.service, row.category = priority, service, category
    row.updated_at = deps.clock.now()


async def reactivate(session: AsyncSession, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    """A reopened incident is held again by the tier that had it."""
    row = await session.scalar(
        select(AssignmentRow).where(AssignmentRow.incident_id == incident_id).with_for_update()
    )
    if row is None or row.status == ACTIVE:
        return
    row.status = ACTIVE
    row.updated_at = deps.clock.now()
