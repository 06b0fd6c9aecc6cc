"""The router's HTTP API for incidents: who holds one, escalate it, hand it back down."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.domain.assignment import Assignment
from tierline_router.service_layer import escalation, queries
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.api import KEY_PROBLEMS, Reader, RuntimeDep, Writer
from tierline_shared.schemas import ApiModel

router = APIRouter(tags=["routing"])
PROBLEMS = {
    **KEY_PROBLEMS,
    404: {"description": "The router holds no such incident (problem+json)"},
    409: {
        "description": "Resolved, at the top or bottom of the ladder, no vendor takes it, or no longer at "
        "`from_tier` (problem+json)"
    },
    422: {"description": "Invalid input (problem+json)"},
}
FROM_TIER = (
    "The tier the caller saw the incident at: if it is at another one now (moved meanwhile), 409 "
    "tier-moved and nothing moves. Optional"
)
Tier = Literal["L1", "L2", "L3", "L4"]


class EscalateIn(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "Customer is a VIP"}]})
    note: str | None = Field(default=None, max_length=2000, description="Why, in a person's words")
    from_tier: Tier | None = Field(default=None, description=FROM_TIER)


class DeEscalateIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"to_tier": "L1", "note": "Password reset; the desk can finish it"}]},
    )
    to_tier: Literal["L1", "L2", "L3"] | None = Field(
        default=None, description="Default: the ladder's rung below the current tier"
    )
    note: str = Field(min_length=1, max_length=2000, description="Why it goes back down (required)")
    from_tier: Tier | None = Field(default=None, description=FROM_TIER)


class AssignmentOut(BaseModel):
    incident_id: uuid.UUID
    priority: str
    policy: str | None
    tier: str
    tier_entered_at: datetime
    queue: str | None
    assignee: str | None
    waiting_since: datetime | None = Field(
        description="Set while the incident waits in its queue for an agent"
    )
    vendor: str | None
    status: str
    is_acknowledged: bool
    ack_due_at: datetime | None
    renotified: int
    escalations: int
    updated_at: datetime

    @classmethod
    def of(cls, assignment: Assignment) -> AssignmentOut:
        return cls.model_validate(assignment, from_attributes=True)


@router.post(
    "/v1/incidents/{incident_id}/escalate",
    response_model=AssignmentOut,
    responses=PROBLEMS,
    summary="Escalate one rung up the incident's ladder (past its top, up to L4, by hand)",
)
async def escalate(
    incident_id: uuid.UUID,
    rt: RuntimeDep,
    principal: Writer,
    body: Annotated[EscalateIn | None, Body()] = None,
) -> AssignmentOut:
    deps: RouterDeps = rt.state["deps"]
    async with rt.unit_of_work() as session:
        assignment = await escalation.escalate(
            RouterUnitOfWork(session, deps.outbox),
            deps,
            incident_id,
            reason="manual",
            note=body.note if body else None,
            from_tier=body.from_tier if body else None,
        )
        return AssignmentOut.of(assignment)


@router.post(
    "/v1/incidents/{incident_id}/de-escalate",
    response_model=AssignmentOut,
    responses=PROBLEMS,
    summary="Hand the incident back to a lower tier, saying why",
)
async def de_escalate(
    incident_id: uuid.UUID, body: DeEscalateIn, rt: RuntimeDep, principal: Writer
) -> AssignmentOut:
    deps: RouterDeps = rt.state["deps"]
    async with rt.unit_of_work() as session:
        assignment = await escalation.de_escalate(
            RouterUnitOfWork(session, deps.outbox),
            deps,
            incident_id,
            to_tier=body.to_tier,
            reason="manual",
            note=body.note,
            from_tier=body.from_tier,
        )
        return AssignmentOut.of(assignment)


@router.get(
    "/v1/incidents/{incident_id}/assignment",
    response_model=AssignmentOut,
    responses=PROBLEMS,
    summary="Who holds the incident now",
)
async def assignment(incident_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> AssignmentOut:
    deps: RouterDeps = rt.state["deps"]
    async with rt.sessions() as session:
        return AssignmentOut.of(await queries.assignment(RouterUnitOfWork(session, deps.outbox), incident_id))
