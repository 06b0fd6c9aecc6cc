"""Intake's HTTP API: thin, each route one unit of work around one use case."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, SlaClockView, TimelineEntry
from tierline_intake.entrypoints.schemas import (
    AcknowledgeIn,
    IncidentIn,
    IncidentOut,
    ResolveIn,
    SlaClockOut,
    TimelineItemOut,
)
from tierline_intake.service_layer import incidents
from tierline_intake.service_layer.commands import CreateIncident, ResolveIncident
from tierline_shared.runtime import Runtime, get_runtime

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PROBLEMS = {
    404: {"description": "No such incident (problem+json)"},
    409: {"description": "Not allowed in the current status (problem+json)"},
    422: {"description": "Invalid input; each error names its field (problem+json)"},
}


async def render(session: AsyncSession, row: IncidentRow) -> IncidentOut:
    clocks = await session.scalars(select(SlaClockView).where(SlaClockView.incident_id == row.id))
    entries = await session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == row.id)
        .order_by(TimelineEntry.at, TimelineEntry.seq)
    )
    return IncidentOut(
        id=row.id,
        title=row.title,
        description=row.description,
        service=row.service,
        category=row.category,
        impact=row.impact,
        urgency=row.urgency,
        priority=row.priority,
        priority_source=row.priority_source,
        channel=row.channel,
        reporter=row.reporter,
        dedup_key=row.dedup_key,
        status=row.status,
        tier=row.tier,
        queue=row.queue,
        assignee=row.assignee,
        vendor=row.vendor,
        vendor_reference=row.vendor_reference,
        created_at=row.created_at,
        updated_at=row.updated_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        resolution_code=row.resolution_code,
        sla={
            c.clock: SlaClockOut(
                state=c.state,
                due_at=c.due_at,
                breached=c.breached_at is not None,
                breached_at=c.breached_at,
                met_at=c.met_at,
                tier=c.tier,
            )
            for c in clocks
        },
        timeline=[
            TimelineItemOut(at=e.at, kind=e.kind, summary=e.summary, source=e.source, data=e.data)
            for e in entries
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentOut,
    responses={
        200: {"description": "An open incident with this dedup_key exists; it is returned"},
        **PROBLEMS,
    },
    summary="Create an incident",
)
async def create_incident(
    body: IncidentIn, request: Request, response: Response, rt: RuntimeDep
) -> IncidentOut:
    async with rt.unit_of_work() as session:
        row, created = await incidents.create_incident(
            session, rt.state["deps"], CreateIncident(**body.model_dump())
        )
        view = await render(session, row)
    response.headers["Location"] = str(request.url_for("get_incident", incident_id=str(row.id)))
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get(
    "/{incident_id}",
    response_model=IncidentOut,
    responses=PROBLEMS,
    summary="An incident with SLA and timeline",
)
async def get_incident(incident_id: uuid.UUID, rt: RuntimeDep) -> IncidentOut:
    async with rt.sessions() as session:
        row = await incidents.get_incident(session, incident_id)
        return await render(session, row)


@router.post(
    "/{incident_id}/acknowledge", response_model=IncidentOut, responses=PROBLEMS, summary="Acknowledge"
)
async def acknowledge(
    incident_id: uuid.UUID, rt: RuntimeDep, body: Annotated[AcknowledgeIn | None, Body()] = None
) -> IncidentOut:
    async with rt.unit_of_work() as session:
        row = await incidents.acknowledge_incident(
            session, rt.state["deps"], incident_id, body.by if body else None
        )
        return await render(session, row)


@router.post("/{incident_id}/resolve", response_model=IncidentOut, responses=PROBLEMS, summary="Resolve")
async def resolve(
    incident_id: uuid.UUID, rt: RuntimeDep, body: Annotated[ResolveIn | None, Body()] = None
) -> IncidentOut:
    cmd = ResolveIncident(**body.model_dump()) if body else ResolveIncident()
    async with rt.unit_of_work() as session:
        row = await incidents.resolve_incident(session, rt.state["deps"], incident_id, cmd)
        return await render(session, row)
