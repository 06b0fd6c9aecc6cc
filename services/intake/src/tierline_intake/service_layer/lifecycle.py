"""Intake's other lifecycle use cases: hold and resume, reopen, close, notes, CSAT, edits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow
from tierline_intake.domain.lifecycle import (
    IllegalTransition,
    Status,
    check_csat,
    check_editable,
    check_reopen,
    check_transition,
    status_after_resume,
)
from tierline_intake.domain.priority import reprioritise
from tierline_intake.service_layer.commands import UpdateIncident
from tierline_intake.service_layer.incidents import (
    IntakeDeps,
    add_timeline,
    announce,
    find_open_by_dedup_key,
    get_incident,
)
from tierline_shared.errors import Conflict
from tierline_shared.events import (
    FieldChange,
    IncidentClosed,
    IncidentPutOnHold,
    IncidentReopened,
    IncidentResumed,
    IncidentUpdated,
)


async def put_on_hold(
    session: AsyncSession,
    deps: IntakeDeps,
    incident_id: uuid.UUID,
    *,
    reason: str,
    note: str | None,
    by: str | None,
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    check_transition(Status(row.status), Status.ON_HOLD, action="be put on hold")
    now = deps.clock.now()
    row.status, row.hold_reason, row.updated_at = Status.ON_HOLD.value, reason, now
    await announce(
        session,
        deps,
        IncidentPutOnHold(incident_id=row.id, reason=reason, note=note, at=now, by=by),
        at=now,
        kind="on_hold",
        summary=f"On hold: {reason.replace('_', ' ')}" + (f" - {note}" if note else ""),
        data={"reason": reason, "note": note, "by": by},
    )
    return row


async def resume(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, *, by: str | None
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    if row.status != Status.ON_HOLD.value:
        raise IllegalTransition(
            f"An incident that is {row.status} is not on hold; there is nothing to resume.",
            current_status=row.status,
            requested_status="resumed",
        )
    target = status_after_resume(row.acknowledged_at)
    now = deps.clock.now()
    row.status, row.hold_reason, row.updated_at = target.value, None, now
    await announce(
        session,
        deps,
        IncidentResumed(incident_id=row.id, status=target.value, at=now, by=by),
        at=now,
        kind="resumed",
        summary=f"Resumed ({target.value})",
        data={"by": by},
    )
    return row


async def reopen(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, *, reason: str | None, by: str | None
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    check_transition(Status(row.status), Status.OPEN, action="be reopened")
    now = deps.clock.now()
    check_reopen(row.resolved_at, now, deps.reopen_window)
    if row.dedup_key:
        newer = await find_open_by_dedup_key(session, row.dedup_key)
        if newer is not None:
            raise Conflict(
                "A newer open incident holds this dedup_key; work on that one instead.",
                open_incident_id=str(newer.id),
            )
    row.status, row.updated_at = Status.OPEN.value, now
    row.resolved_at = row.resolution_code = row.resolution_note = None
    row.acknowledged_at = None
    row.reopen_count += 1
    await announce(
        session,
        deps,
        IncidentReopened(incident_id=row.id, reason=reason, priority=row.priority, reopened_at=now, by=by),
        at=now,
        kind="reopened",
        summary="Reopened" + (f": {reason}" if reason else ""),
        data={"reason": reason, "by": by},
    )
    return row


async def close(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, *, by: str | None
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    check_transition(Status(row.status), Status.CLOSED, action="be closed (resolve it first)")
    now = deps.clock.now()
    row.status, row.closed_at, row.updated_at = Status.CLOSED.value, now, now
    await announce(
        session,
        deps,
        IncidentClosed(incident_id=row.id, closed_at=now, by=by),
        at=now,
        kind="closed",
        summary="Closed",
    )
    return row


async def add_note(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, *, text: str, author: str | None
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    now = deps.clock.now()
    row.updated_at = now
    add_timeline(
        session,
        row.id,
        at=now,
        kind="note",
        source="intake",
        summary=f"Note by {author or 'an agent'}: {text[:200]}",
        data={"text": text, "author": author},
    )
    return row


async def record_csat(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, *, score: int, comment: str | None
) -> IncidentRow:
    row = await get_incident(session, incident_id, lock=True)
    check_csat(Status(row.status), already_rated=row.csat_score is not None)
    now = deps.clock.now()
    row.csat_score, row.csat_comment, row.updated_at = score, comment, now
    add_timeline(
        session,
        row.id,
        at=now,
        kind="csat",
        source="intake",
        summary=f"Customer satisfaction {score}/5",
        data={"score": score, "comment": comment},
    )
    return row


async def update_incident(
    session: AsyncSession, deps: IntakeDeps, incident_id: uuid.UUID, cmd: UpdateIncident
) -> IncidentRow:
    """Apply an edit; a change of priority (stated or derived) reaches router and SLA monitor."""
    row = await get_incident(session, incident_id, lock=True)
    check_editable(Status(row.status))
    wanted = dict(cmd.changes)
    impact = wanted.get("impact", row.impact)
    urgency = wanted.get("urgency", row.urgency)
    decision = reprioritise(
        deps.priority_matrix,
        current_priority=row.priority,
        current_source=row.priority_source,
        impact=impact,
        urgency=urgency,
        explicit=wanted.pop("priority", None),
    )
    wanted["priority"] = decision.priority
    changes: dict[str, FieldChange] = {}
    for name, new in wanted.items():
        old: Any = getattr(row, name)
        if old != new:
            changes[name] = FieldChange(old=old, new=new)
            setattr(row, name, new)
    if decision.source != row.priority_source:
        # pinning the current priority by hand is a change too: the matrix no longer moves it
        changes["priority_source"] = FieldChange(old=row.priority_source, new=decision.source)
        row.priority_source = decision.source
    if not changes:
        return row
    now = deps.clock.now()
    row.updated_at = now
    described = ", ".join(f"{k} {v.old!r} -> {v.new!r}" for k, v in changes.items() if k != "description")
    await announce(
        session,
        deps,
        IncidentUpdated(
            incident_id=row.id,
            changes=changes,
            priority=row.priority,
            service=row.service,
            category=row.category,
            product=row.product,
            updated_at=now,
            by=cmd.by,
        ),
        at=now,
        kind="updated",
        summary=f"Updated: {described or 'description'}",
        data={k: v.model_dump(mode="json") for k, v in changes.items()},
    )
    return row
