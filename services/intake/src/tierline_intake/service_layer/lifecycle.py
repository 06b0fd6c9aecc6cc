"""Intake's other lifecycle use cases: hold and resume, reopen, close, notes, CSAT, edits.

Each asks the incident for one change through :func:`~tierline_intake.service_layer.incidents.act`.
"""

from __future__ import annotations

import uuid

from tierline_intake.domain.incident import Incident
from tierline_intake.service_layer.commands import UpdateIncident
from tierline_intake.service_layer.incidents import IntakeDeps, act
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork


async def put_on_hold(
    uow: IntakeUnitOfWork,
    deps: IntakeDeps,
    incident_id: uuid.UUID,
    *,
    reason: str,
    note: str | None,
    by: str | None,
) -> Incident:
    return await act(
        uow,
        deps,
        incident_id,
        lambda incident, now: incident.put_on_hold(reason=reason, note=note, by=by, now=now),
    )


async def resume(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, *, by: str | None
) -> Incident:
    return await act(uow, deps, incident_id, lambda incident, now: incident.resume(by=by, now=now))


async def reopen(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, *, reason: str | None, by: str | None
) -> Incident:
    """Refused outside the reopen window, and while a newer open incident holds its dedup key."""
    incident = await uow.incidents.load(incident_id, lock=True)
    now = deps.clock.now()
    incident.check_reopen(now=now, window=deps.reopen_window)
    newer = await uow.incidents.open_with_dedup_key(incident.dedup_key) if incident.dedup_key else None
    happened = incident.reopen(
        reason=reason,
        by=by,
        now=now,
        window=deps.reopen_window,
        newer_open=newer.id if newer is not None else None,
    )
    uow.incidents.save(incident)
    await uow.record(incident.id, happened)
    return incident


async def close(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, *, by: str | None
) -> Incident:
    return await act(uow, deps, incident_id, lambda incident, now: incident.close(by=by, now=now))


async def add_note(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, *, text: str, author: str | None
) -> Incident:
    return await act(
        uow, deps, incident_id, lambda incident, now: incident.add_note(text=text, author=author, now=now)
    )


async def record_csat(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, *, score: int, comment: str | None
) -> Incident:
    return await act(
        uow,
        deps,
        incident_id,
        lambda incident, now: incident.record_csat(score=score, comment=comment, now=now),
    )


async def update_incident(
    uow: IntakeUnitOfWork, deps: IntakeDeps, incident_id: uuid.UUID, cmd: UpdateIncident
) -> Incident:
    """Apply an edit; a change of priority (stated or derived) reaches router and SLA monitor."""
    return await act(
        uow,
        deps,
        incident_id,
        lambda incident, now: incident.update(cmd.changes, by=cmd.by, matrix=deps.priority_matrix, now=now),
    )
