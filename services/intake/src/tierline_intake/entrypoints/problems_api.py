"""Problem records: link incidents that share a root cause."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from tierline_intake.entrypoints.admin_schemas import (
    ProblemIn,
    ProblemLinkIn,
    ProblemListItemOut,
    ProblemOut,
    ProblemPageOut,
    ProblemPatch,
)
from tierline_intake.entrypoints.common import PROBLEMS, check_storable, check_times, check_values, deps
from tierline_intake.service_layer import problems
from tierline_shared.api import Reader, RuntimeDep, Writer

router = APIRouter(prefix="/v1/problems", tags=["problems"])
PROBLEM_PROBLEMS = {**PROBLEMS, 404: {"description": "No such problem (problem+json)"}}
STATUSES = {"open", "resolved"}


def _fields(row: problems.Problem) -> dict:
    return {
        "id": row.id,
        "title": row.title,
        "root_cause": row.root_cause,
        "workaround": row.workaround,
        "known_error": row.known_error,
        "status": row.status,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _out(row: problems.Problem, incident_ids: list[uuid.UUID]) -> ProblemOut:
    return ProblemOut(**_fields(row), incident_ids=incident_ids)


@router.get("", response_model=ProblemPageOut, responses=PROBLEMS, summary="List problems, newest first")
async def list_problems(
    rt: RuntimeDep,
    principal: Reader,
    status_: Annotated[list[str] | None, Query(alias="status", description="open, resolved")] = None,
    known_error: Annotated[bool | None, Query(description="true: only known errors; false: none")] = None,
    service: Annotated[
        str | None, Query(max_length=120, description="problems linking an incident of this service")
    ] = None,
    created_since: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
    created_until: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> ProblemPageOut:
    check_values("status", status_, STATUSES)
    check_times(created_since=created_since, created_until=created_until)
    check_storable(service=service, cursor=cursor)
    flt = problems.ProblemFilter(
        status=status_,
        known_error=known_error,
        service=service,
        created_since=created_since,
        created_until=created_until,
    )
    async with rt.sessions() as session:
        uow = deps(rt).unit_of_work(session)
        rows, next_cursor = await problems.list_problems(uow, flt, limit=limit, cursor=cursor)
        counts = await problems.incident_counts(uow, [r.id for r in rows])
    return ProblemPageOut(
        items=[ProblemListItemOut(**_fields(r), incident_count=counts.get(r.id, 0)) for r in rows],
        next_cursor=next_cursor,
    )


@router.post(
    "", status_code=201, response_model=ProblemOut, responses=PROBLEMS, summary="Open a problem record"
)
async def create_problem(body: ProblemIn, rt: RuntimeDep, principal: Writer) -> ProblemOut:
    async with rt.unit_of_work() as session:
        row = await problems.create_problem(deps(rt).unit_of_work(session), deps(rt), **body.model_dump())
    return _out(row, [])


@router.get(
    "/{problem_id}",
    response_model=ProblemOut,
    responses=PROBLEM_PROBLEMS,
    summary="A problem and its incidents",
)
async def get_problem(problem_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> ProblemOut:
    async with rt.sessions() as session:
        uow = deps(rt).unit_of_work(session)
        row = await problems.get_problem(uow, problem_id)
        return _out(row, await problems.linked_incidents(uow, problem_id))


@router.patch(
    "/{problem_id}",
    response_model=ProblemOut,
    responses=PROBLEM_PROBLEMS,
    summary="Record root cause, workaround",
)
async def patch_problem(
    problem_id: uuid.UUID, body: ProblemPatch, rt: RuntimeDep, principal: Writer
) -> ProblemOut:
    changes = body.model_dump(exclude_unset=True)
    nulls = [k for k in ("title", "known_error", "status") if k in changes and changes[k] is None]
    if nulls:
        from tierline_shared.errors import InvalidInput

        raise InvalidInput(
            "Some fields cannot be null.",
            errors=[{"field": n, "pointer": f"/{n}", "reason": "cannot be null"} for n in nulls],
        )
    async with rt.unit_of_work() as session:
        uow = deps(rt).unit_of_work(session)
        row = await problems.update_problem(uow, deps(rt), problem_id, changes)
        return _out(row, await problems.linked_incidents(uow, problem_id))


@router.post(
    "/{problem_id}/incidents",
    response_model=ProblemOut,
    responses=PROBLEM_PROBLEMS,
    summary="Link incidents to the problem",
)
async def link(problem_id: uuid.UUID, body: ProblemLinkIn, rt: RuntimeDep, principal: Writer) -> ProblemOut:
    async with rt.unit_of_work() as session:
        uow = deps(rt).unit_of_work(session)
        await problems.link_incidents(uow, deps(rt), problem_id, list(dict.fromkeys(body.incident_ids)))
        row = await problems.get_problem(uow, problem_id)
        return _out(row, await problems.linked_incidents(uow, problem_id))
