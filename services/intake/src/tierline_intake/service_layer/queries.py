"""Reading incidents: the API's view of one, filtered keyset-paginated lists (newest first), timelines."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tierline_intake.adapters.filters import IncidentFilter
from tierline_intake.adapters.orm import IncidentRow, ProblemRow, SlaClockView, TimelineEntry
from tierline_intake.domain.incident import Incident
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork

__all__ = ["IncidentFilter", "IncidentView", "SlaClock", "list_incidents", "timeline", "view", "view_of"]

SlaClock = SlaClockView  # one clock of an incident as the SLA monitor last reported it


@dataclass(frozen=True)
class IncidentView:
    """An incident with what the API shows around it: SLA clocks, timeline, linked problem."""

    incident: Incident
    clocks: list[SlaClockView]
    timeline: list[TimelineEntry]
    problem: ProblemRow | None


async def view(uow: IntakeUnitOfWork, incident: Incident) -> IncidentView:
    if incident.id in uow.incidents.inserted and not uow.sla.written and incident.problem_id is None:
        # Created by this transaction: nobody else can have written about it yet, so its view
        # is what this transaction wrote (no clocks yet, its own timeline lines) — no reads.
        lines = sorted(uow.timeline.recorded.get(incident.id, []), key=lambda entry: entry.at)
        return IncidentView(incident, [], lines, None)
    clocks = await uow.sla.of(incident.id)
    entries = await uow.timeline.of(incident.id)
    problem = await uow.problems.get(incident.problem_id) if incident.problem_id else None
    return IncidentView(incident, clocks, entries, problem)


async def view_of(uow: IntakeUnitOfWork, incident_id: uuid.UUID) -> IncidentView:
    """The incident's view; NotFound (404) if there is none."""
    return await view(uow, await uow.incidents.load(incident_id))


async def list_incidents(
    uow: IntakeUnitOfWork, flt: IncidentFilter, *, limit: int, cursor: str | None
) -> tuple[list[IncidentRow], str | None]:
    """A page of incidents, newest first, and the cursor of the next page (None on the last)."""
    return await uow.incidents.page(flt, limit=limit, cursor=cursor)


async def timeline(uow: IntakeUnitOfWork, incident_id: uuid.UUID) -> list[TimelineEntry]:
    """The incident's timeline, in order; NotFound (404) if there is no such incident."""
    await uow.incidents.load(incident_id)
    return await uow.timeline.of(incident_id)
