"""The SLA monitor's use cases: start, stop and fire clocks.

Clocks are rows in PostgreSQL; the poller claims due ones with
FOR UPDATE SKIP LOCKED, so replicas share the work and a restart loses nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.clock import Clock
from tierline_shared.events import IncidentCreated, SlaBreached, SlaClockStarted, SlaMet, SlaRecalculated
from tierline_shared.messaging.outbox import Outbox
from tierline_sla_monitor.adapters.orm import ClockRow, ClosedIncidentRow
from tierline_sla_monitor.domain.policy import ClockKind, ClockState, SlaPolicy, due_at, outcome_when_stopped


@dataclass(frozen=True)
class SlaDeps:
    outbox: Outbox
    clock: Clock
    policy: SlaPolicy


async def _is_closed(session: AsyncSession, incident_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(ClosedIncidentRow.incident_id).where(ClosedIncidentRow.incident_id == incident_id)
    )
    return found is not None


async def _running(session: AsyncSession, incident_id: uuid.UUID, kinds: list[str]) -> list[ClockRow]:
    rows = await session.scalars(
        select(ClockRow)
        .where(
            ClockRow.incident_id == incident_id,
            ClockRow.kind.in_(kinds),
            ClockRow.state == ClockState.RUNNING.value,
        )
        .with_for_update()
    )
    return list(rows)


async def _start(
    session: AsyncSession,
    deps: SlaDeps,
    *,
    incident_id: uuid.UUID,
    kind: ClockKind,
    started_at: datetime,
    duration: timedelta,
    priority: str | None = None,
    tier: str | None = None,
) -> None:
    due = due_at(started_at, duration)
    session.add(
        ClockRow(
            id=uuid.uuid4(),
            incident_id=incident_id,
            kind=kind.value,
            tier=tier,
            priority=priority,
            state=ClockState.RUNNING.value,
            started_at=started_at,
            due_at=due,
        )
    )
    await deps.outbox.add(
        session,
        SlaClockStarted(
            incident_id=incident_id, clock=kind.value, tier=tier, due_at=due, started_at=started_at
        ),
    )


async def start_incident_clocks(session: AsyncSession, deps: SlaDeps, event: IncidentCreated) -> None:
    if await _is_closed(session, event.incident_id):
        return
    if await _running(session, event.incident_id, [ClockKind.RESPONSE.value, ClockKind.RESOLUTION.value]):
        return
    target = deps.policy.target(event.priority)
    for kind, duration in ((ClockKind.RESPONSE, target.response), (ClockKind.RESOLUTION, target.resolution)):
        await _start(
            session,
            deps,
            incident_id=event.incident_id,
            kind=kind,
            started_at=event.created_at,
            duration=duration,
            priority=event.priority,
        )


async def restart_tier_clock(
    session: AsyncSession,
    deps: SlaDeps,
    *,
    incident_id: uuid.UUID,
    tier: str,
    budget_seconds: float | None,
    at: datetime,
    entered_at: datetime | None = None,
) -> None:
    """A tier holds the incident: its budget runs from when the tier took it (``entered_at``).

    A re-assignment inside the same stay keeps the clock; a new budget for the same stay
    (the priority changed) re-arms it from the tier's entry; a new stay replaces it.
    """
    if await _is_closed(session, incident_id):
        return
    started = entered_at or at
    budget = deps.policy.tier_budget(tier, budget_seconds)
    latest = await session.scalar(
        select(ClockRow)
        .where(ClockRow.incident_id == incident_id, ClockRow.kind == ClockKind.TIER.value)
        .order_by(ClockRow.started_at.desc(), ClockRow.due_at.desc())
        .limit(1)
        .with_for_update()
    )
    if latest is not None and latest.tier == tier and latest.started_at == started:
        if latest.state != ClockState.RUNNING.value:
            return  # this stay's budget already ran out (or was met): nothing left to re-arm
        if budget is not None and latest.due_at == due_at(started, budget):
            return  # a re-assignment: the same budget keeps running
    for row in await _running(session, incident_id, [ClockKind.TIER.value]):
        row.state, row.stopped_at = ClockState.CANCELLED.value, at
    await session.flush()
    if budget is not None:
        await _start(
            session,
            deps,
            incident_id=incident_id,
            kind=ClockKind.TIER,
            started_at=started,
            duration=budget,
            tier=tier,
        )


async def _stop(session: AsyncSession, deps: SlaDeps, row: ClockRow, at: datetime) -> None:
    state = outcome_when_stopped(at, row.due_at)
    row.state, row.stopped_at = state.value, at
    if state is ClockState.MET:
        await deps.outbox.add(
            session,
            SlaMet(incident_id=row.incident_id, clock=row.kind, tier=row.tier, due_at=row.due_at, met_at=at),
        )
    else:  # stopped after its due time, before the poller saw it: the breach still counts
        await deps.outbox.add(
            session,
            SlaBreached(
                incident_id=row.incident_id, clock=row.kind, tier=row.tier, due_at=row.due_at, breached_at=at
            ),
        )


async def stop_response_clock(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, at: datetime
) -> None:
    for row in await _running(session, incident_id, [ClockKind.RESPONSE.value]):
        await _stop(session, deps, row, at)
    await _correct_early_breaches(session, deps, incident_id, [ClockKind.RESPONSE.value], at)


async def stop_all_clocks(session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        insert(ClosedIncidentRow).values(incident_id=incident_id, closed_at=at).on_conflict_do_nothing()
    )
    for row in await _running(session, incident_id, [k.value for k in ClockKind]):
        if row.kind == ClockKind.TIER.value:
            row.state, row.stopped_at = ClockState.CANCELLED.value, at
        else:
            await _stop(session, deps, row, at)
    await _correct_early_breaches(
        session, deps, incident_id, [ClockKind.RESPONSE.value, ClockKind.RESOLUTION.value], at
    )


async def _correct_early_breaches(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, kinds: list[str], at: datetime
) -> None:
    """The stop happened in time but reached us after the poller fired (consumer lag): it was met."""
    rows = await session.scalars(
        select(ClockRow)
        .where(
            ClockRow.incident_id == incident_id,
            ClockRow.kind.in_(kinds),
            ClockRow.state == ClockState.BREACHED.value,
            ClockRow.due_at >= at,
        )
        .with_for_update()
    )
    for row in rows:
        row.state, row.stopped_at = ClockState.MET.value, at
        await deps.outbox.add(
            session,
            SlaMet(incident_id=row.incident_id, clock=row.kind, tier=row.tier, due_at=row.due_at, met_at=at),
        )


async def fire_due_clocks(session: AsyncSession, deps: SlaDeps, *, limit: int) -> int:
    """Mark running clocks past their due time breached and announce it; returns how many."""
    now = deps.clock.now()
    rows = await session.scalars(
        select(ClockRow)
        .where(ClockRow.state == ClockState.RUNNING.value, ClockRow.due_at <= now)
        .order_by(ClockRow.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    fired = 0
    for row in rows:
        row.state, row.stopped_at = ClockState.BREACHED.value, now
        await deps.outbox.add(
            session,
            SlaBreached(
                incident_id=row.incident_id, clock=row.kind, tier=row.tier, due_at=row.due_at, breached_at=now
            ),
        )
        fired += 1
    return fired


async def recalculate_for_priority(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, priority: str, at: datetime
) -> None:
    """A new priority applies retroactively: time already spent counts against the new target."""
    target = deps.policy.target(priority)
    for row in await _running(session, incident_id, [ClockKind.RESPONSE.value, ClockKind.RESOLUTION.value]):
        duration = target.response if row.kind == ClockKind.RESPONSE.value else target.resolution
        new_due = due_at(row.started_at, duration)
        if new_due == row.due_at and row.priority == priority:
            continue
        old_due = row.due_at
        row.due_at, row.priority = new_due, priority
        await deps.outbox.add(
            session,
            SlaRecalculated(
                incident_id=incident_id,
                clock=row.kind,
                tier=row.tier,
                old_due_at=old_due,
                due_at=new_due,
                reason=f"priority changed to {priority}",
                at=at,
            ),
        )


async def restart_after_reopen(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, priority: str, at: datetime
) -> None:
    """A reopened incident gets a fresh resolution clock from the moment it reopened."""
    await session.execute(delete(ClosedIncidentRow).where(ClosedIncidentRow.incident_id == incident_id))
    if await _running(session, incident_id, [ClockKind.RESOLUTION.value]):
        return
    await _start(
        session,
        deps,
        incident_id=incident_id,
        kind=ClockKind.RESOLUTION,
        started_at=at,
        duration=deps.policy.target(priority).resolution,
        priority=priority,
    )
