"""The router's HTTP API: manual escalation, who holds an incident, the configured queues."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.adapters.orm import AssignmentRow
from tierline_router.service_layer import routing
from tierline_shared.auth import Principal, require
from tierline_shared.runtime import Runtime, get_runtime
from tierline_shared.schemas import ApiModel

router = APIRouter(tags=["routing"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Reader = Annotated[Principal, Depends(require("incidents:read"))]
Writer = Annotated[Principal, Depends(require("incidents:write"))]
PROBLEMS = {
    401: {"description": "No API key, or an unknown or revoked one (problem+json)"},
    403: {"description": "The key lacks the scope (problem+json)"},
    404: {"description": "The router holds no such incident (problem+json)"},
    409: {"description": "Resolved, already at L4, or no vendor configured (problem+json)"},
    422: {"description": "Invalid input (problem+json)"},
}


class EscalateIn(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "Customer is a VIP"}]})
    note: str | None = Field(default=None, max_length=2000, description="Why, in a person's words")


class AssignmentOut(BaseModel):
    incident_id: uuid.UUID
    tier: str
    queue: str | None
    assignee: str | None
    vendor: str | None
    status: str
    escalations: int
    updated_at: datetime

    @classmethod
    def of(cls, row: AssignmentRow) -> AssignmentOut:
        return cls(
            incident_id=row.incident_id,
            tier=row.tier,
            queue=row.queue,
            assignee=row.assignee,
            vendor=row.vendor,
            status=row.status,
            escalations=row.escalations,
            updated_at=row.updated_at,
        )


class QueueOut(BaseModel):
    name: str
    tier: str
    services: list[str]
    categories: list[str]
    agents: list[str]


@router.post(
    "/v1/incidents/{incident_id}/escalate",
    response_model=AssignmentOut,
    responses=PROBLEMS,
    summary="Escalate one tier up (L1 -> L2 -> L3 -> L4)",
)
async def escalate(
    incident_id: uuid.UUID,
    rt: RuntimeDep,
    principal: Writer,
    body: Annotated[EscalateIn | None, Body()] = None,
) -> AssignmentOut:
    async with rt.unit_of_work() as session:
        row = await routing.escalate(
            session, rt.state["deps"], incident_id, reason="manual", note=body.note if body else None
        )
        return AssignmentOut.of(row)


@router.get(
    "/v1/incidents/{incident_id}/assignment",
    response_model=AssignmentOut,
    responses=PROBLEMS,
    summary="Who holds the incident now",
)
async def assignment(incident_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> AssignmentOut:
    async with rt.sessions() as session:
        return AssignmentOut.of(await routing.get_assignment(session, incident_id))


@router.get("/v1/queues", response_model=list[QueueOut], summary="The configured queues by tier")
async def queues(rt: RuntimeDep, principal: Reader) -> list[QueueOut]:
    return [QueueOut(**q.model_dump()) for q in rt.state["deps"].policy.queues]
