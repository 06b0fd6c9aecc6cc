"""Intake's use cases: create, acknowledge and resolve an incident.

Each function runs inside the caller's unit of work and adds its event to the
outbox there, so the state change and the event commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, SlaClockView, TimelineEntry
from tierline_intake.domain.alerts import DEFAULT_SEVERITY_RULES, SeverityRule
from tierline_intake.domain.lifecycle import OPEN_STATUSES, IllegalTransition, Status, check_transition
from tierline_intake.domain.priority import decide_priority
from tierline_intake.service_layer.commands import CreateIncident, ResolveIncident
from tierline_shared.clock import Clock
from tierline_shared.errors import NotFound
from tierline_shared.events import IncidentAcknowledged, IncidentCreated, IncidentEvent, IncidentResolved
from tierline_shared.messaging.outbox import Outbox


@dataclass(frozen=True)
class IntakeDeps:
    outbox: Outbox
    clock: Clock
    priority_matrix: Mapping[str, Mapping[str, str]]
    knowledge: Mapping[str, list[dict[str, str]]] = field(default_factory=dict)
    severity_rules: Mapping[str, SeverityRule] = field(default_factory=lambda: dict(DEFAULT_SEVERITY_RULES))
    reopen_window: timedelta = timedelta(days=7)


async def get_incident(session: AsyncSession, incident_id: uuid.UUID, *, lock: bool = False) -> IncidentRow:
    stmt = select(IncidentRow).where(IncidentRow.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise NotFound(f"No incident with id {incident_id}.")
    return row


async def announce(
    session: AsyncSession,
    deps: IntakeDeps,
    event: IncidentEvent,
    *,
    at: Any,
    kind: str,
    summary: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Publish an incident event (through the outbox) and put it on the incident's timeline."""
    envelope = await deps.outbox.add(session, event)
    add_timeline(
        session,
        event.incident_id,
        at=at,
        kind=kind,
        summary=summary,
        source="intake",
        event_id=envelope.id,
        data=data,
    )


async def cancel_clocks(
    session: AsyncSession, incident_id: uuid.UUID, *kinds: str, tier: str | None = None
) -> None:
    """Mark running or paused clocks cancelled in the view: the SLA monitor drops them without an event.

    A tier budget ends when the incident leaves the tier or is resolved; a vendor's contract
    clocks end when the case goes back from the vendor.
    """
    stmt = update(SlaClockView).where(
        SlaClockView.incident_id == incident_id,
        SlaClockView.clock.in_(kinds),
        SlaClockView.state.in_(("running", "paused")),
    )
    if tier is not None:
        stmt = stmt.where(SlaClockView.tier == tier)
    await session.execute(stmt.values(state="cancelled", remaining_seconds=None))


async def find_open_by_dedup_key(session: AsyncSession, dedup_key: str) -> IncidentRow | None:
    return await session.scalar(
        select(IncidentRow)
        .where(IncidentRow.dedup_key == dedup_key, IncidentRow.status.in_([s.value for s in OPEN_STATUSES]))
        .with_for_update()
    )


def add_timeline(
    session: AsyncSession,
    incident_id: uuid.UUID,
    *,
    at: Any,
    kind: str,
    summary: str,
    source: str,
    event_id: uuid.UUID | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        TimelineEntry(
            incident_id=incident_id,
            at=at,
            kind=kind,
            summary=summary,
            source=source,
            event_id=event_id,
            data=data or {},
        )
    )


async def create_incident(
    session: AsyncSession, deps: IntakeDeps, cmd: CreateIncident
) -> tuple[IncidentRow, bool]:
    """Create the incident, or count one more occurrence of the open one with its dedup key."""
    if cmd.dedup_key:
        existing = await find_open_by_dedup_key(session, cmd.dedup_key)
        if existing is not None:
            record_occurrence(session, deps, existing, cmd)
            return existing, False
    decision = decide_priority(
        deps.priority_matrix, impact=cmd.impact, urgency=cmd.urgency, explicit=cmd.priority
    )
    now = deps.clock.now()
    row = IncidentRow(
        id=uuid.uuid4(),
        title=cmd.title,
        description=cmd.description,
        service=cmd.service,
        category=cmd.category,
        product=cmd.product,
        customer=cmd.customer,
        impact=cmd.impact,
        urgency=cmd.urgency,
        priority=decision.priority,
        priority_source=decision.source,
        channel=cmd.channel,
        reporter=cmd.reporter,
        dedup_key=cmd.dedup_key,
        status=Status.OPEN.value,
        created_at=now,
        updated_at=now,
        last_seen_at=now,
        occurrences=1,
        reopen_count=0,
        knowledge=list(deps.knowledge.get(cmd.category, [])),
        integration_id=cmd.integration_id,
        details=cmd.details,
    )
    try:
        # Insert inside a savepoint: a concurrent twin with the same dedup key loses cleanly.
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        if cmd.dedup_key:
            existing = await find_open_by_dedup_key(session, cmd.dedup_key)
            if existing is not None:
                record_occurrence(session, deps, existing, cmd)
                return existing, False
        raise
    await announce(
        session,
        deps,
        IncidentCreated(
            incident_id=row.id,
            title=row.title,
            description=row.description,
            service=row.service,
            category=row.category,
            product=row.product,
            customer=row.customer,
            priority=row.priority,
            impact=row.impact,
            urgency=row.urgency,
            channel=row.channel,
            reporter=row.reporter,
            dedup_key=row.dedup_key,
            created_at=now,
        ),
        at=now,
        kind="created",
        summary=f"Created via {row.channel} by {row.reporter} as {row.priority} ({decision.source})",
        data={"priority": row.priority, "priority_source": decision.source},
    )
    return row, True


def record_occurrence(session: AsyncSession, deps: IntakeDeps, row: IncidentRow, cmd: CreateIncident) -> None:
    """The same problem reported again while open: count it instead of opening a duplicate."""
    now = deps.clock.now()
    row.occurrences += 1
    row.last_seen_at = now
    row.updated_at = now
    add_timeline(
        session,
        row.id,
        at=now,
        kind="occurrence",
        source="intake",
        summary=f"Reported again via {cmd.channel} by {cmd.reporter} (occurrence {row.occurrences})",
        data={"occurrences": row.occurrences, "title": cmd.title},
    )


async def acknowledge_incident(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, by: str | None
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    if row.status != Status.OPEN.value:  # on hold: resume first; later states: too late
        check_transition(Status(row.status), Status.ACKNOWLEDGED, action="be acknowledged")
        raise IllegalTransition(
            f"An incident that is {row.status} cannot be acknowledged; resume it first.",
            current_status=row.status,
            requested_status=Status.ACKNOWLEDGED.value,
        )
    now = deps.clock.now()
    row.status = Status.ACKNOWLEDGED.value
    row.acknowledged_at = now
    row.updated_at = now
    await announce(
        session,
        deps,
        IncidentAcknowledged(incident_id=row.id, acknowledged_at=now, by=by),
        at=now,
        kind="acknowledged",
        summary=f"Acknowledged by {by or 'an agent'}",
    )
    return row


async def resolve_incident(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, cmd: ResolveIncident
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    check_transition(Status(row.status), Status.RESOLVED)
    now = deps.clock.now()
    row.status = Status.RESOLVED.value
    row.resolved_at = now
    row.updated_at = now
    row.resolution_code = cmd.resolution_code
    row.resolution_note = cmd.note
    row.knowledge_article_used = cmd.knowledge_article
    row.hold_reason = None
    await cancel_clocks(session, row.id, "tier")
    await announce(
        session,
        deps,
        IncidentResolved(
            incident_id=row.id,
            resolved_at=now,
            by=cmd.by,
            resolution_code=cmd.resolution_code,
            note=cmd.note,
            source=cmd.source,
        ),
        at=now,
        kind="resolved",
        summary=f"Resolved by {cmd.by or cmd.source}"
        + (f": {cmd.resolution_code}" if cmd.resolution_code else ""),
        data={
            "resolution_code": cmd.resolution_code,
            "note": cmd.note,
            "source": cmd.source,
            "knowledge_article": cmd.knowledge_article,
        },
    )
    return row
