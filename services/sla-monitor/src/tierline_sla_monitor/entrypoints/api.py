"""The SLA monitor's HTTP API: an incident's clocks, compliance, and the policies and calendars."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from tierline_shared import ranking
from tierline_shared.api import KEY_PROBLEMS, Admin, Reader, RuntimeDep
from tierline_shared.catalog_schemas import (
    PLACEMENT,
    NamePath,
    PlacementIn,
    RankWarningOut,
    rank_warnings_out,
)
from tierline_shared.errors import InvalidInput
from tierline_shared.schemas import ApiModel
from tierline_sla_monitor.adapters import repository as repo
from tierline_sla_monitor.adapters.orm import CalendarRow, ClockRow, PolicyRow
from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.policy import PolicySpec, SlaPolicy
from tierline_sla_monitor.service_layer import catalog, compliance
from tierline_sla_monitor.service_layer.clocks import run_of

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
    now = rt.clock.now()
    async with rt.sessions() as session:
        known = await repo.load_catalog(session)
        rows = await session.scalars(
            select(ClockRow)
            .where(ClockRow.incident_id == incident_id)
            .order_by(ClockRow.started_at, ClockRow.kind)
        )
        out = []
        for r in rows:
            calendar = known.calendar(r.calendar)
            run = run_of(r)
            elapsed = run.elapsed_at(calendar, now) if r.state in ("running", "paused") else run.elapsed
            out.append(
                ClockOut(
                    id=r.id,
                    incident_id=r.incident_id,
                    kind=r.kind,
                    tier=r.tier,
                    vendor=r.vendor,
                    policy=r.policy,
                    calendar=r.calendar,
                    state=r.state,
                    started_at=r.started_at,
                    due_at=r.due_at,
                    stopped_at=r.stopped_at,
                    target_seconds=r.target_seconds,
                    elapsed_seconds=elapsed.total_seconds(),
                    remaining_seconds=max(r.target_seconds - elapsed.total_seconds(), 0.0),
                    warnings_sent=r.warned,
                )
            )
        return out


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
        return await compliance.report(session, start=start, end=end, group_by=group_by)


# --- policies -------------------------------------------------------------------------------------

POLICY_EXAMPLE = {
    "name": "gold-customers-p2",
    "priorities": ["P2"],
    "customers": ["acme-corp"],
    "response": "15m",
    "resolution": "4h",
    "calendar": "24x7",
    "pause_on": ["awaiting_customer"],
    "warnings": [0.5, 0.75, 0.9],
}


class PolicyIn(ApiModel, PlacementIn, SlaPolicy):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{**POLICY_EXAMPLE, "before": "p2"}]}
    )


class PolicyReplace(ApiModel, PlacementIn, PolicySpec):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in POLICY_EXAMPLE.items() if k != "name"}]},
    )


class PolicyOut(BaseModel):
    name: str
    rank: int = Field(description="Position in the match order, 1 tried first")
    priorities: list[str]
    services: list[str]
    customers: list[str]
    response_seconds: float
    resolution_seconds: float
    calendar: str
    pause_on: list[str]
    warnings: list[float]
    managed_by: str
    updated_at: datetime
    rank_warnings: list[RankWarningOut] = Field(description="About its place in the match order")


def _policy_out(ranked: ranking.Ranked[PolicyRow]) -> PolicyOut:
    row = ranked.item
    p = repo.policy_of(row)
    return PolicyOut(
        **p.model_dump(
            include={"name", "priorities", "services", "customers", "calendar", "pause_on", "warnings"}
        ),
        rank=row.rank,
        response_seconds=p.response.total_seconds(),
        resolution_seconds=p.resolution.total_seconds(),
        managed_by=row.managed_by,
        updated_at=row.updated_at,
        rank_warnings=rank_warnings_out(ranked),
    )


@router.get(
    "/policies", response_model=list[PolicyOut], responses=PROBLEMS, summary="Policies, in matching order"
)
async def list_policies(rt: RuntimeDep, principal: Reader) -> list[PolicyOut]:
    async with rt.sessions() as session:
        return [_policy_out(r) for r in await catalog.list_policies(session)]


@router.post(
    "/policies",
    response_model=PolicyOut,
    status_code=201,
    responses=PROBLEMS,
    summary="Add a policy at a rank, before or after another (else last)",
)
async def create_policy(body: PolicyIn, rt: RuntimeDep, principal: Admin, response: Response) -> PolicyOut:
    policy = SlaPolicy.model_validate(body.model_dump(exclude=PLACEMENT))
    async with rt.unit_of_work() as session:
        ranked = await catalog.put_policy(session, policy, body.placement(), rt.clock.now(), create=True)
        response.headers["Location"] = f"/v1/sla/policies/{policy.name}"
        return _policy_out(ranked)


@router.get("/policies/{name}", response_model=PolicyOut, responses=PROBLEMS, summary="One policy")
async def get_policy(name: str, rt: RuntimeDep, principal: Reader) -> PolicyOut:
    async with rt.sessions() as session:
        return _policy_out(await catalog.get_policy(session, name))


@router.put(
    "/policies/{name}",
    response_model=PolicyOut,
    responses=PROBLEMS,
    summary="Replace a policy, optionally moving it (running clocks keep their targets until the "
    "incident's priority changes)",
)
async def replace_policy(name: NamePath, body: PolicyReplace, rt: RuntimeDep, principal: Admin) -> PolicyOut:
    policy = SlaPolicy.model_validate({**body.model_dump(exclude=PLACEMENT), "name": name})
    async with rt.unit_of_work() as session:
        ranked = await catalog.put_policy(session, policy, body.placement(), rt.clock.now(), create=False)
        return _policy_out(ranked)


@router.delete("/policies/{name}", status_code=204, responses=PROBLEMS, summary="Remove a policy")
async def delete_policy(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await catalog.delete_policy(session, name)
    return Response(status_code=204)


# --- calendars ------------------------------------------------------------------------------------

CALENDAR_EXAMPLE = {
    "name": "office-hours-ny",
    "timezone": "America/New_York",
    "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-11-26", "2026-12-25"],
}


class CalendarIn(ApiModel, Calendar):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CALENDAR_EXAMPLE]})


class CalendarOut(Calendar):
    managed_by: str
    updated_at: datetime


def _calendar_out(row: CalendarRow) -> CalendarOut:
    return CalendarOut(
        **repo.calendar_of(row).model_dump(), managed_by=row.managed_by, updated_at=row.updated_at
    )


@router.get("/calendars", response_model=list[CalendarOut], responses=PROBLEMS, summary="Business calendars")
async def list_calendars(rt: RuntimeDep, principal: Reader) -> list[CalendarOut]:
    async with rt.sessions() as session:
        return [_calendar_out(r) for r in await catalog.list_calendars(session)]


@router.post(
    "/calendars", response_model=CalendarOut, status_code=201, responses=PROBLEMS, summary="Add a calendar"
)
async def create_calendar(
    body: CalendarIn, rt: RuntimeDep, principal: Admin, response: Response
) -> CalendarOut:
    calendar = Calendar.model_validate(body.model_dump())
    async with rt.unit_of_work() as session:
        row = await catalog.put_calendar(session, calendar, rt.clock.now(), create=True)
        response.headers["Location"] = f"/v1/sla/calendars/{row.name}"
        return _calendar_out(row)


@router.get("/calendars/{name}", response_model=CalendarOut, responses=PROBLEMS, summary="One calendar")
async def get_calendar(name: str, rt: RuntimeDep, principal: Reader) -> CalendarOut:
    async with rt.sessions() as session:
        return _calendar_out(await catalog.get_calendar(session, name))


@router.put("/calendars/{name}", response_model=CalendarOut, responses=PROBLEMS, summary="Replace a calendar")
async def replace_calendar(name: str, body: CalendarIn, rt: RuntimeDep, principal: Admin) -> CalendarOut:
    if body.name != name:
        raise InvalidInput(
            "The name in the body must be the one in the path.",
            errors=[{"field": "name", "reason": f"must be {name!r}", "pointer": "/name"}],
        )
    async with rt.unit_of_work() as session:
        row = await catalog.put_calendar(
            session, Calendar.model_validate(body.model_dump()), rt.clock.now(), create=False
        )
        return _calendar_out(row)


@router.delete(
    "/calendars/{name}", status_code=204, responses=PROBLEMS, summary="Remove a calendar no policy uses"
)
async def delete_calendar(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await catalog.delete_calendar(session, name)
    return Response(status_code=204)
