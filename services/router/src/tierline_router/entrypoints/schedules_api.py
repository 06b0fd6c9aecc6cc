"""The router's schedules API: on-call schedules, their overrides, who is on call and the shifts.

Reading takes ``incidents:read`` (like queues and agents); changing takes ``admin``. A schedule's
name in a path never ends in ``.ics``: those addresses are the calendar feeds (``calendar_api``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from tierline_router.adapters.schedules import StoredOverride
from tierline_router.domain.schedules import END_OF_TIME, Shift, instant
from tierline_router.domain.schedules.localtime import as_utc
from tierline_router.domain.schedules.spec import LayerSpec, OverrideSpec, ScheduleFields, ScheduleSpec
from tierline_router.entrypoints.configuration import PROBLEMS, WORK
from tierline_router.service_layer import schedules
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared.api import Admin, Reader, RuntimeDep
from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog_schemas import NamePath
from tierline_shared.errors import InvalidInput

SHIFTS_AHEAD = timedelta(days=14)  # the shifts listed when ``to`` is unsaid


class _ScheduleName(Convertor[str]):
    """A schedule's name in a path, never one ending in ``.ics`` (a feed); PUT checks the pattern."""

    regex = r"(?![^/]*\.ics$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("schedule", _ScheduleName())
ONE = "/v1/schedules/{name:schedule}"

router = APIRouter(tags=["schedules"])

SCHEDULE_EXAMPLE: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "layers": [
        {
            "name": "weekly",
            "members": ["dave", "erin"],
            "rotation": "weekly",
            "handoff": "09:00",
            "start": "2026-01-05",
        }
    ],
}
From = Annotated[AwareDatetime | None, Query(alias="from", description="With a UTC offset; default: now")]
To = Annotated[
    AwareDatetime | None, Query(alias="to", description="With a UTC offset; default: 14 days after from")
]
At = Annotated[AwareDatetime | None, Query(description="With a UTC offset; default: now")]


class ScheduleIn(ScheduleFields):
    model_config = {**ScheduleFields.model_config, "json_schema_extra": {"examples": [SCHEDULE_EXAMPLE]}}


class ScheduleOut(BaseModel):
    name: str
    timezone: str
    layers: list[LayerSpec]
    queues: list[str] = Field(description="Queues following this schedule")
    managed_by: str = Field(description="config (the policy file, re-applied at start) or api")
    created_at: datetime | None
    updated_at: datetime


class OverrideIn(OverrideSpec):
    model_config = {
        **OverrideSpec.model_config,
        "json_schema_extra": {
            "examples": [
                {"person": "erin", "start": "2026-12-07T09:00:00+01:00", "end": "2026-12-08T09:00:00+01:00"}
            ]
        },
    }


class OverrideOut(BaseModel):
    id: uuid.UUID
    schedule: str
    person: str
    start: datetime
    end: datetime
    note: str | None
    created_by: str
    created_at: datetime


class OnCallOut(BaseModel):
    schedule: str
    at: datetime
    person: str | None
    layer: str | None = Field(description="The layer behind it, or 'override'")
    until: datetime | None = Field(description="When this person's shift ends (null: none in sight)")


class QueueOnCallOut(BaseModel):
    queue: str
    schedule: str | None
    at: datetime
    person: str | None
    until: datetime | None
    available: bool | None = Field(description="The person's own availability flag (null: nobody)")


class ShiftOut(BaseModel):
    person: str
    start: datetime
    end: datetime
    layer: str


class ShiftsOut(BaseModel):
    model_config = {"populate_by_name": True}

    schedule: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    shifts: list[ShiftOut]


async def _out(uow: RouterUnitOfWork, listed: Listed[ScheduleSpec]) -> ScheduleOut:
    naming = (await uow.catalog.load()).queues_naming(listed.item.name)
    return ScheduleOut(
        name=listed.item.name,
        timezone=listed.item.timezone,
        layers=list(listed.item.layers),
        queues=[q.name for q in naming],
        managed_by=listed.managed_by,
        created_at=listed.created_at,
        updated_at=listed.updated_at,
    )


def _override_out(override: StoredOverride) -> OverrideOut:
    return OverrideOut(**vars(override))


def _shift_out(shift: Shift) -> ShiftOut:
    return ShiftOut(person=shift.person, start=shift.start, end=shift.end, layer=shift.layer)


def _range(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The range asked for, in UTC (unsaid: from now, for 14 days); a bound outside the years
    answered is refused naming ``from`` or ``to`` before it is converted (no overflow)."""
    start = instant(start, "from") if start is not None else as_utc(now)
    if end is None:
        return start, min(start + SHIFTS_AHEAD, END_OF_TIME)
    return start, instant(end, "to")


def _at(at: datetime | None, now: datetime) -> datetime:
    return instant(at, "at") if at is not None else as_utc(now)


@router.get("/v1/schedules", response_model=list[ScheduleOut], responses=PROBLEMS, summary="Every schedule")
async def list_schedules(rt: RuntimeDep, principal: Reader) -> list[ScheduleOut]:
    async with WORK.reading(rt) as uow:
        return [await _out(uow, listed) for listed in await schedules.list_all(uow)]


@router.get(ONE, response_model=ScheduleOut, responses=PROBLEMS, summary="One schedule")
async def get_schedule(name: str, rt: RuntimeDep, principal: Reader) -> ScheduleOut:
    async with WORK.reading(rt) as uow:
        return await _out(uow, await schedules.get(uow, name))


@router.put(
    ONE,
    response_model=ScheduleOut,
    responses={**PROBLEMS, 201: {"description": "Created", "model": ScheduleOut}},
    summary="Create or replace a schedule (checked against the queues naming it)",
)
async def put_schedule(
    name: NamePath, body: ScheduleIn, rt: RuntimeDep, principal: Admin, response: Response
) -> ScheduleOut:
    spec = ScheduleSpec.model_validate({**body.model_dump(), "name": name})
    async with WORK.changing(rt) as uow:
        listed, is_new = await schedules.put(uow, rt.state["deps"], spec)
        answer = await _out(uow, listed)
    if is_new:
        response.status_code = 201
        response.headers["Location"] = f"/v1/schedules/{name}"
    return answer


@router.delete(ONE, status_code=204, responses=PROBLEMS, summary="Remove a schedule no queue names")
async def delete_schedule(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with WORK.changing(rt) as uow:
        await schedules.delete(uow, rt.state["deps"], name)
    return Response(status_code=204)


@router.post(
    ONE + "/overrides",
    response_model=OverrideOut,
    status_code=201,
    responses=PROBLEMS,
    summary="Someone covers a span (a later override wins where they overlap)",
)
async def add_override(
    name: str, body: OverrideIn, rt: RuntimeDep, principal: Admin, response: Response
) -> OverrideOut:
    async with WORK.changing(rt) as uow:
        made = await schedules.add_override(uow, rt.state["deps"], name, body, principal.name)
    response.headers["Location"] = f"/v1/schedules/{name}/overrides/{made.id}"
    return _override_out(made)


@router.get(
    ONE + "/overrides",
    response_model=list[OverrideOut],
    responses=PROBLEMS,
    summary="The schedule's overrides, those overlapping [from, to) when given",
)
async def list_overrides(
    name: str, rt: RuntimeDep, principal: Reader, start: From = None, end: To = None
) -> list[OverrideOut]:
    if (start is None) != (end is None):
        field = "to" if end is None else "from"
        raise InvalidInput(
            f"{field}: give both from and to, or neither",
            errors=[{"field": field, "reason": "give both from and to, or neither", "pointer": f"/{field}"}],
        )
    if start is not None and end is not None:
        start, end = _range(start, end, rt.clock.now())
    async with WORK.reading(rt) as uow:
        return [_override_out(o) for o in await schedules.list_overrides(uow, name, start, end)]


@router.delete(
    ONE + "/overrides/{override_id}", status_code=204, responses=PROBLEMS, summary="Remove an override"
)
async def delete_override(name: str, override_id: uuid.UUID, rt: RuntimeDep, principal: Admin) -> Response:
    async with WORK.changing(rt) as uow:
        await schedules.delete_override(uow, rt.state["deps"], name, override_id)
    return Response(status_code=204)


@router.get(
    ONE + "/oncall", response_model=OnCallOut, responses=PROBLEMS, summary="Who is on call at an instant"
)
async def oncall(name: str, rt: RuntimeDep, principal: Reader, at: At = None) -> OnCallOut:
    async with WORK.reading(rt) as uow:
        answer = await schedules.oncall_at(uow, name, _at(at, rt.clock.now()))
    return OnCallOut(**vars(answer))


@router.get(
    ONE + "/shifts",
    response_model=ShiftsOut,
    response_model_by_alias=True,
    responses=PROBLEMS,
    summary="The final shifts after layers and overrides, in [from, to) (at most 400 days)",
)
async def list_shifts(
    name: str, rt: RuntimeDep, principal: Reader, start: From = None, end: To = None
) -> Any:
    start, end = _range(start, end, rt.clock.now())
    async with WORK.reading(rt) as uow:
        found = await schedules.shifts_of(uow, name, start, end)
    return ShiftsOut(schedule=name, start=start, end=end, shifts=[_shift_out(s) for s in found])


@router.get(
    "/v1/oncall",
    response_model=QueueOnCallOut,
    responses=PROBLEMS,
    summary="Who is on call for a queue (schedule null: the queue has none)",
)
async def queue_oncall(
    rt: RuntimeDep,
    principal: Reader,
    queue: Annotated[str, Query(min_length=1, max_length=100)],
    at: At = None,
) -> QueueOnCallOut:
    async with WORK.reading(rt) as uow:
        answer = await schedules.queue_oncall(uow, queue, _at(at, rt.clock.now()))
    return QueueOnCallOut(**vars(answer))
