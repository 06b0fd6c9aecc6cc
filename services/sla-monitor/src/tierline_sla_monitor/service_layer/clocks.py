"""The SLA monitor's use cases: start, pause, resume, re-target and stop clocks.

Clocks are rows in PostgreSQL. Each banks the business time it has run and carries its
due time and the moment it next needs a look (``fire_at``: a warning or the due time),
so the poller (timers.py) claims only what is due, with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import tracing
from tierline_shared.clock import Clock
from tierline_shared.db import on_commit
from tierline_shared.events import (
    IncidentCreated,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaRecalculated,
)
from tierline_shared.messaging.outbox import Outbox
from tierline_sla_monitor import metrics
from tierline_sla_monitor.adapters import repository as repo
from tierline_sla_monitor.adapters.orm import ClockRow, IncidentRow
from tierline_sla_monitor.adapters.repository import Catalog
from tierline_sla_monitor.domain.calendar import ALWAYS, Calendar
from tierline_sla_monitor.domain.clock import Run
from tierline_sla_monitor.domain.policy import (
    OPEN_STATES,
    ClockKind,
    ClockState,
    SlaConfig,
    SlaPolicy,
    Subject,
)

INCIDENT_CLOCKS = (ClockKind.RESPONSE.value, ClockKind.RESOLUTION.value)
VENDOR_CLOCKS = (ClockKind.VENDOR_RESPONSE.value, ClockKind.VENDOR_RESOLUTION.value)


@dataclass(frozen=True)
class SlaDeps:
    outbox: Outbox
    clock: Clock
    config: SlaConfig  # the file: fallback tier budgets


def run_of(row: ClockRow) -> Run:
    return Run(
        target=timedelta(seconds=row.target_seconds),
        elapsed=timedelta(seconds=row.elapsed_seconds),
        running_since=row.running_since,
        warnings=tuple(row.warnings),
        warned=row.warned,
    )


def save_run(row: ClockRow, run: Run, calendar: Calendar) -> None:
    row.target_seconds = run.target.total_seconds()
    row.elapsed_seconds = run.elapsed.total_seconds()
    row.running_since = run.running_since
    row.warnings, row.warned = list(run.warnings), run.warned
    row.due_at = run.due_at(calendar)
    row.fire_at = run.fire_at(calendar)


async def _open(
    session: AsyncSession, incident_id: uuid.UUID, kinds: tuple[str, ...] | list[str]
) -> list[ClockRow]:
    rows = await session.scalars(
        select(ClockRow)
        .where(ClockRow.incident_id == incident_id, ClockRow.kind.in_(kinds), ClockRow.state.in_(OPEN_STATES))
        .with_for_update()
    )
    return list(rows)


async def _start(
    session: AsyncSession,
    deps: SlaDeps,
    incident: IncidentRow,
    *,
    kind: ClockKind,
    started_at: datetime,
    target: timedelta,
    calendar: Calendar,
    warnings: list[float],
    tier: str | None = None,
    vendor: str | None = None,
) -> ClockRow:
    row = ClockRow(
        id=uuid.uuid4(),
        incident_id=incident.incident_id,
        kind=kind.value,
        tier=tier,
        priority=incident.priority,
        service=incident.service,
        vendor=vendor,
        policy=incident.policy,
        calendar=calendar.name,
        state=ClockState.RUNNING.value,
        started_at=started_at,
        traceparent=tracing.current_context()[0],
    )
    save_run(
        row,
        Run(target=target, elapsed=timedelta(0), running_since=started_at, warnings=tuple(warnings)),
        calendar,
    )
    session.add(row)
    assert row.due_at is not None
    await deps.outbox.add(
        session,
        SlaClockStarted(
            incident_id=incident.incident_id,
            clock=kind.value,
            tier=tier,
            due_at=row.due_at,
            started_at=started_at,
        ),
    )
    return row


async def _stop(session: AsyncSession, deps: SlaDeps, catalog: Catalog, row: ClockRow, at: datetime) -> None:
    calendar = catalog.calendar(row.calendar)
    run = run_of(row)
    state = run.outcome(calendar, at, row.due_at)
    row.elapsed_seconds = row.finished_seconds = run.elapsed_at(calendar, at).total_seconds()
    row.state, row.stopped_at, row.running_since, row.fire_at = state.value, at, None, None
    due = row.due_at or at
    on_commit(session, lambda kind=row.kind, what=state.value: metrics.outcome(kind, what))
    if state is ClockState.MET:
        event: SlaMet | SlaBreached = SlaMet(
            incident_id=row.incident_id, clock=row.kind, tier=row.tier, due_at=due, met_at=at
        )
    else:  # stopped after its due time, before the poller saw it: the breach still counts
        event = SlaBreached(
            incident_id=row.incident_id, clock=row.kind, tier=row.tier, due_at=due, breached_at=at
        )
    await deps.outbox.add(session, event)


def _cancel(row: ClockRow, at: datetime) -> None:
    row.state, row.stopped_at, row.fire_at = ClockState.CANCELLED.value, at, None


async def start_incident_clocks(session: AsyncSession, deps: SlaDeps, event: IncidentCreated) -> None:
    incident = await repo.incident(session, event.incident_id)
    if incident.closed_at is not None or await _open(session, event.incident_id, INCIDENT_CLOCKS):
        return
    catalog = await repo.load_catalog(session)
    incident.priority, incident.service, incident.customer = event.priority, event.service, event.customer
    policy = catalog.policy_for(
        Subject(priority=event.priority, service=event.service, customer=event.customer)
    )
    incident.policy = policy.name
    calendar = catalog.calendar(policy.calendar)
    for kind in (ClockKind.RESPONSE, ClockKind.RESOLUTION):
        await _start(
            session,
            deps,
            incident,
            kind=kind,
            started_at=event.created_at,
            target=policy.target(kind),
            calendar=calendar,
            warnings=policy.warnings,
        )


def _policy(catalog: Catalog, incident: IncidentRow) -> SlaPolicy:
    return catalog.policy(incident.policy) or catalog.policy_for(_subject(incident))


def _subject(incident: IncidentRow) -> Subject:
    return Subject.model_validate(
        {
            "priority": incident.priority or "P4",
            "service": incident.service or "",
            "customer": incident.customer,
        }
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
    incident = await repo.incident(session, incident_id)
    if incident.closed_at is not None:
        return
    incident.tier = tier
    started = entered_at or at
    budget = deps.config.tier_budget(tier, budget_seconds)
    latest = await session.scalar(
        select(ClockRow)
        .where(ClockRow.incident_id == incident_id, ClockRow.kind == ClockKind.TIER.value)
        .order_by(ClockRow.started_at.desc(), ClockRow.target_seconds.desc())
        .limit(1)
        .with_for_update()
    )
    if latest is not None and latest.tier == tier and latest.started_at == started:
        if latest.state not in OPEN_STATES:
            return  # this stay's budget already ran out (or was met): nothing left to re-arm
        if budget is not None and latest.target_seconds == budget.total_seconds():
            return  # a re-assignment: the same budget keeps running
    catalog = await repo.load_catalog(session)
    same_stay = latest is not None and latest.tier == tier and latest.started_at == started
    for row in await _open(session, incident_id, [ClockKind.TIER.value]):
        if same_stay:
            _cancel(row, at)  # re-armed with a new budget below
        else:
            await _stop(session, deps, catalog, row, at)  # the stay ended: within its budget or not
    if not same_stay:
        await _record_finish(session, catalog, incident_id, [ClockKind.TIER.value], at)
    await session.flush()
    if budget is None:
        return
    policy = _policy(catalog, incident) if incident.priority else None
    row = await _start(
        session,
        deps,
        incident,
        kind=ClockKind.TIER,
        started_at=started,
        target=budget,
        calendar=catalog.calendar(policy.calendar) if policy else ALWAYS,
        warnings=policy.warnings if policy else [],
        tier=tier,
    )
    if incident.hold_reason and policy and incident.hold_reason in policy.pause_on:
        await _pause(session, deps, catalog, row, incident.hold_reason, at)


async def start_vendor_clocks(
    session: AsyncSession,
    deps: SlaDeps,
    incident_id: uuid.UUID,
    *,
    vendor: str,
    response_seconds: float | None,
    resolution_seconds: float | None,
    at: datetime,
) -> None:
    """The vendor holds the case: its contract's response and resolution clocks run (24x7)."""
    incident = await repo.incident(session, incident_id)
    if incident.closed_at is not None:
        return
    for row in await _open(session, incident_id, VENDOR_CLOCKS):
        _cancel(row, at)
    await session.flush()
    for kind, seconds in (
        (ClockKind.VENDOR_RESPONSE, response_seconds),
        (ClockKind.VENDOR_RESOLUTION, resolution_seconds),
    ):
        if seconds:
            await _start(
                session,
                deps,
                incident,
                kind=kind,
                started_at=at,
                target=timedelta(seconds=seconds),
                calendar=ALWAYS,
                warnings=[],
                vendor=vendor,
            )


async def cancel_vendor_clocks(
    session: AsyncSession, incident_id: uuid.UUID, at: datetime, *, vendor: str | None = None
) -> None:
    """The case went back from the vendor (``vendor``'s, or whoever's): its contract no longer runs."""
    for row in await _open(session, incident_id, VENDOR_CLOCKS):
        if vendor is None or row.vendor == vendor:
            _cancel(row, at)


async def stop_vendor_clocks(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, at: datetime, *, vendor: str, resolved: bool
) -> None:
    """``vendor`` answered (its response clock stops) or resolved (both stop); others' clocks stay."""
    kinds = list(VENDOR_CLOCKS if resolved else (ClockKind.VENDOR_RESPONSE.value,))
    catalog = await repo.load_catalog(session)
    for row in await _open(session, incident_id, kinds):
        if row.vendor == vendor:
            await _stop(session, deps, catalog, row, at)
    await _correct_early_breaches(session, deps, catalog, incident_id, kinds, at, vendor=vendor)
    await _record_finish(session, catalog, incident_id, kinds, at, vendor=vendor)


async def stop_response_clock(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, at: datetime
) -> None:
    catalog = await repo.load_catalog(session)
    for row in await _open(session, incident_id, [ClockKind.RESPONSE.value]):
        await _stop(session, deps, catalog, row, at)
    await _correct_early_breaches(session, deps, catalog, incident_id, [ClockKind.RESPONSE.value], at)
    await _record_finish(session, catalog, incident_id, [ClockKind.RESPONSE.value], at)


async def stop_all_clocks(session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, at: datetime) -> None:
    """Resolved: every open clock, the last tier's budget too, ends met or breached."""
    incident = await repo.incident(session, incident_id)
    incident.closed_at = incident.closed_at or at
    incident.hold_reason = None  # resolving from on hold ends the hold (no resume event follows)
    catalog = await repo.load_catalog(session)
    for row in await _open(session, incident_id, [k.value for k in ClockKind]):
        await _stop(session, deps, catalog, row, at)
    await _correct_early_breaches(session, deps, catalog, incident_id, [*INCIDENT_CLOCKS, *VENDOR_CLOCKS], at)
    await _record_finish(session, catalog, incident_id, [k.value for k in ClockKind], at)


async def _breached(
    session: AsyncSession,
    incident_id: uuid.UUID,
    kinds: list[str],
    vendor: str | None,
    condition: ColumnElement[bool],
) -> list[ClockRow]:
    """Breached clocks of these kinds (and vendor) meeting ``condition``, locked."""
    stmt = select(ClockRow).where(
        ClockRow.incident_id == incident_id,
        ClockRow.kind.in_(kinds),
        ClockRow.state == ClockState.BREACHED.value,
        condition,
    )
    if vendor is not None:
        stmt = stmt.where(ClockRow.vendor == vendor)
    return list(await session.scalars(stmt.with_for_update()))


async def _correct_early_breaches(
    session: AsyncSession,
    deps: SlaDeps,
    catalog: Catalog,
    incident_id: uuid.UUID,
    kinds: list[str],
    at: datetime,
    *,
    vendor: str | None = None,
) -> None:
    """The stop happened in time but reached us after the poller fired (consumer lag): it was met."""
    for row in await _breached(session, incident_id, kinds, vendor, ClockRow.due_at >= at):
        breached_at = row.stopped_at or at
        # the poller banked time up to the breach; the work ended earlier, at ``at``
        spent = (
            row.elapsed_seconds
            - catalog.calendar(row.calendar).business_time(at, breached_at).total_seconds()
        )
        row.state, row.stopped_at = ClockState.MET.value, at
        row.elapsed_seconds = row.finished_seconds = max(spent, 0.0)
        assert row.due_at is not None
        await deps.outbox.add(
            session,
            SlaMet(incident_id=row.incident_id, clock=row.kind, tier=row.tier, due_at=row.due_at, met_at=at),
        )


async def _record_finish(
    session: AsyncSession,
    catalog: Catalog,
    incident_id: uuid.UUID,
    kinds: list[str],
    at: datetime,
    *,
    vendor: str | None = None,
) -> None:
    """A breached clock's work finally ended: keep how long it really took, for the compliance report."""
    for row in await _breached(session, incident_id, kinds, vendor, ClockRow.finished_seconds.is_(None)):
        calendar = catalog.calendar(row.calendar)
        breached_at = row.stopped_at or at
        # the stop may come after the breach, or before it when the poller ran late
        later = calendar.business_time(breached_at, at) - calendar.business_time(at, breached_at)
        row.finished_seconds = max(row.elapsed_seconds + later.total_seconds(), 0.0)


async def _pause(
    session: AsyncSession, deps: SlaDeps, catalog: Catalog, row: ClockRow, reason: str, at: datetime
) -> None:
    calendar = catalog.calendar(row.calendar)
    run = run_of(row).pause(calendar, at)
    save_run(row, run, calendar)
    row.state = ClockState.PAUSED.value
    await deps.outbox.add(
        session,
        SlaClockPaused(
            incident_id=row.incident_id,
            clock=row.kind,
            reason=reason,
            elapsed_seconds=run.elapsed.total_seconds(),
            remaining_seconds=run.remaining_at(calendar, at).total_seconds(),
            at=at,
        ),
    )


async def pause_for_hold(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, reason: str, at: datetime
) -> None:
    """On hold: the resolution clock and tier budget stop counting if the policy pauses on ``reason``."""
    incident = await repo.incident(session, incident_id)
    incident.hold_reason = reason
    catalog = await repo.load_catalog(session)
    if incident.closed_at is not None or reason not in _policy(catalog, incident).pause_on:
        return
    for row in await _open(session, incident_id, [ClockKind.RESOLUTION.value, ClockKind.TIER.value]):
        if row.state == ClockState.RUNNING.value:
            await _pause(session, deps, catalog, row, reason, at)


async def resume(session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, at: datetime) -> None:
    """Off hold: paused clocks count on from the business time they had spent."""
    incident = await repo.incident(session, incident_id)
    incident.hold_reason = None
    catalog = await repo.load_catalog(session)
    for row in await _open(session, incident_id, [k.value for k in ClockKind]):
        if row.state != ClockState.PAUSED.value:
            continue
        calendar = catalog.calendar(row.calendar)
        save_run(row, run_of(row).resume(at), calendar)
        row.state = ClockState.RUNNING.value
        assert row.due_at is not None
        await deps.outbox.add(
            session, SlaClockResumed(incident_id=incident_id, clock=row.kind, due_at=row.due_at, at=at)
        )


async def recalculate(
    session: AsyncSession,
    deps: SlaDeps,
    incident_id: uuid.UUID,
    *,
    priority: str,
    service: str,
    at: datetime,
) -> None:
    """A new priority (or service) applies retroactively: business time already spent counts against it."""
    incident = await repo.incident(session, incident_id)
    incident.priority, incident.service = priority, service
    catalog = await repo.load_catalog(session)
    policy = catalog.policy_for(_subject(incident))
    incident.policy = policy.name
    calendar = catalog.calendar(policy.calendar)
    should_pause = incident.hold_reason is not None and incident.hold_reason in policy.pause_on
    for row in await _open(session, incident_id, INCIDENT_CLOCKS):
        old_due = row.due_at
        run = run_of(row).rebank(catalog.calendar(row.calendar), at)
        run = run.retarget(policy.target(row.kind), tuple(policy.warnings))
        if row.kind == ClockKind.RESOLUTION.value:  # the new policy decides whether the hold pauses it
            run = run.pause(calendar, at) if should_pause else run.resume(at)
            row.state = (ClockState.PAUSED if run.is_paused else ClockState.RUNNING).value
        row.priority, row.service, row.policy, row.calendar = priority, service, policy.name, calendar.name
        save_run(row, run, calendar)
        if row.due_at == old_due or row.due_at is None or old_due is None:
            continue
        await deps.outbox.add(
            session,
            SlaRecalculated(
                incident_id=incident_id,
                clock=row.kind,
                tier=row.tier,
                old_due_at=old_due,
                due_at=row.due_at,
                reason=f"priority {priority}, policy {policy.name}",
                at=at,
            ),
        )


async def restart_after_reopen(
    session: AsyncSession, deps: SlaDeps, incident_id: uuid.UUID, priority: str, at: datetime
) -> None:
    """A reopened incident gets a fresh resolution clock from the moment it reopened."""
    incident = await repo.incident(session, incident_id)
    incident.closed_at, incident.priority = None, priority
    if await _open(session, incident_id, [ClockKind.RESOLUTION.value]):
        return
    catalog = await repo.load_catalog(session)
    policy = _policy(catalog, incident)
    await _start(
        session,
        deps,
        incident,
        kind=ClockKind.RESOLUTION,
        started_at=at,
        target=policy.resolution,
        calendar=catalog.calendar(policy.calendar),
        warnings=policy.warnings,
    )
