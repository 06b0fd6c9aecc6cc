"""The SLA monitor's HTTP API: an incident's clocks, and the policy in force."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from tierline_shared.auth import Principal, require
from tierline_shared.runtime import Runtime, get_runtime
from tierline_sla_monitor.adapters.orm import ClockRow

router = APIRouter(prefix="/v1/sla", tags=["sla"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Reader = Annotated[Principal, Depends(require("incidents:read"))]


class ClockOut(BaseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    kind: str
    tier: str | None
    state: str
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    elapsed_seconds: float
    remaining_seconds: float


class TargetOut(BaseModel):
    priority: str
    response_seconds: float
    resolution_seconds: float


@router.get("/clocks", response_model=list[ClockOut], summary="Every clock of an incident")
async def clocks(
    incident_id: Annotated[uuid.UUID, Query()], rt: RuntimeDep, principal: Reader
) -> list[ClockOut]:
    now = rt.clock.now()
    async with rt.sessions() as session:
        rows = await session.scalars(
            select(ClockRow)
            .where(ClockRow.incident_id == incident_id)
            .order_by(ClockRow.started_at, ClockRow.kind)
        )
        out = []
        for r in rows:
            end = r.stopped_at or now
            out.append(
                ClockOut(
                    id=r.id,
                    incident_id=r.incident_id,
                    kind=r.kind,
                    tier=r.tier,
                    state=r.state,
                    started_at=r.started_at,
                    due_at=r.due_at,
                    stopped_at=r.stopped_at,
                    elapsed_seconds=(end - r.started_at).total_seconds(),
                    remaining_seconds=max((r.due_at - end).total_seconds(), 0.0),
                )
            )
        return out


@router.get(
    "/policies", response_model=list[TargetOut], summary="Response and resolution targets by priority"
)
async def policies(rt: RuntimeDep, principal: Reader) -> list[TargetOut]:
    policy = rt.state["deps"].policy
    return [
        TargetOut(
            priority=p,
            response_seconds=t.response.total_seconds(),
            resolution_seconds=t.resolution.total_seconds(),
        )
        for p, t in sorted(policy.targets.items())
    ]
