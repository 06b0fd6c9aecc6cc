"""The SLA monitor's HTTP API: an incident's clocks and compliance (policies and calendars:
``policies_api``, ``calendars_api``)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from tierline_shared.api import KEY_PROBLEMS, Reader, RuntimeDep
from tierline_shared.errors import InvalidInput
from tierline_sla_monitor.service_layer import compliance, queries
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

router = APIRouter(prefix="/v1/sla", tags=["sla"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such policy or calendar (problem+json)"},
    409: {
        "description": "The name is taken, or the change leaves a priority without a target (problem+json)"
    },
    422: {"description": "Invalid input, naming the field (problem+json)"},
}


class ClockOut(BaseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    kind: str = Field(description="response, resolution, tier, vendor_response or vendor_resolution")
    tier: str | None
    vendor: str | None
    policy: str | None
    calendar: str
    state: str = Field(description="running, paused, met, breached or cancelled")
    started_at: datetime
    due_at: datetime | None = Field(description="None while paused")
    stopped_at: datetime | None
    target_seconds: float
    elapsed_seconds: float = Field(description="Business time counted so far (calendar, pauses)")
    remaining_seconds: float = Field(description="Business time left before the due time")
    warnings_sent: int


@router.get(
    "/clocks", response_model=list[ClockOut], responses=PROBLEMS, summary="Every clock of an incident"
)
async def clocks(
    incident_id: Annotated[uuid.UUID, Query()], rt: RuntimeDep, principal: Reader
) -> list[ClockOut]:
    async with rt.sessions() as session:
        views = await queries.incident_clocks(SlaUnitOfWork(session, rt.outbox), incident_id, rt.clock.now())
    return [ClockOut(**asdict(view)) for view in views]


@router.get(
    "/compliance",
    response_model=list[compliance.GroupOut],
    responses=PROBLEMS,
    summary="Met %, counts, breaches, mean and p90 times of clocks started in a window, by group",
)
async def compliance_report(
    rt: RuntimeDep,
    principal: Reader,
    start: Annotated[AwareDatetime, Query(alias="from", description="Clocks started at or after")],
    end: Annotated[AwareDatetime, Query(alias="to", description="… and before")],
    group_by: Annotated[Literal["priority", "tier", "service", "vendor"], Query()] = "priority",
) -> list[compliance.GroupOut]:
    if end <= start:
        raise InvalidInput(
            "'to' must be after 'from'.",
            errors=[{"field": "to", "reason": "must be after 'from'", "in": "query"}],
        )
    async with rt.sessions() as session:
        return await compliance.compliance_report(
            SlaUnitOfWork(session, rt.outbox), start=start, end=end, group_by=group_by
        )
