"""Reading incidents: the API's view of one, filtered keyset-paginated lists (newest first), timelines."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tierline_intake.adapters.filters import IncidentFilter
from tierline_intake.adapters.orm import IncidentRow, ProblemRow, SlaClockView, TimelineEntry
from tierline_intake.domain.incident import Incident
from tierline_intake.domain.lifecycle import OPEN_STATUSES
from tierline_intake.domain.sla import ClockSummary, nearest_clock
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork

__all__ = [
    "IncidentFilter",
    "IncidentView",
    "ListedIncident",
    "SlaClock",
    "list_incidents",
    "timeline",
    "view",
    "view_of",
]

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


@dataclass(frozen=True)
class ListedIncident:
    """An incident as a board lists it: its row, since when it waits, its nearest SLA clock."""

    row: IncidentRow
    waiting_since: datetime | None  # open, in a queue, held by nobody: since it was left there
    sla: ClockSummary | None


async def list_incidents(
    uow: IntakeUnitOfWork, flt: IncidentFilter, *, limit: int, cursor: str | None, now: datetime
) -> tuple[list[ListedIncident], str | None]:
    """A page of incidents, newest first, and the cursor of the next page (None on the last).

    Three queries whatever the page's size: the page, its clocks, and when its waiting incidents
    were last handed over. SLA figures are as of ``now``.
    """
    rows, next_cursor = await uow.incidents.page(flt, limit=limit, cursor=cursor)
    clocks = await uow.sla.on_board([row.id for row in rows])
    waiting = [row.id for row in rows if _waiting(row)]
    moved = await uow.timeline.last_moved(waiting)
    items = [
        ListedIncident(
            row=row,
            waiting_since=moved.get(row.id),
            sla=nearest_clock(
                clocks.get(row.id, []),
                acknowledged=row.acknowledged_at is not None,
                resolved=row.status not in _OPEN,
                now=now,
            ),
        )
        for row in rows
    ]
    return items, next_cursor


_OPEN = frozenset(status.value for status in OPEN_STATUSES)


def _waiting(row: IncidentRow) -> bool:
    """Open, in a queue, and held by nobody: no agent, and no vendor (at L4 the vendor holds it)."""
    return row.status in _OPEN and row.queue is not None and row.assignee is None and row.vendor is None


async def timeline(uow: IntakeUnitOfWork, incident_id: uuid.UUID) -> list[TimelineEntry]:
    """The incident's timeline, in order; NotFound (404) if there is no such incident."""
    await uow.incidents.load(incident_id)
    return await uow.timeline.of(incident_id)
