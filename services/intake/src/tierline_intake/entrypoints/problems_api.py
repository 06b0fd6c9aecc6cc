"""Problem records: link incidents that share a root cause."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from tierline_intake.adapters.orm import ProblemRow
from tierline_intake.entrypoints.admin_schemas import ProblemIn, ProblemLinkIn, ProblemOut, ProblemPatch
from tierline_intake.entrypoints.common import PROBLEMS, deps
from tierline_intake.service_layer import problems
from tierline_shared.api import Reader, RuntimeDep, Writer

router = APIRouter(prefix="/v1/problems", tags=["problems"])


def _out(row: ProblemRow, incident_ids: list[uuid.UUID]) -> ProblemOut:
    return ProblemOut(
        id=row.id,
        title=row.title,
        root_cause=row.root_cause,
        workaround=row.workaround,
        known_error=row.known_error,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        incident_ids=incident_ids,
    )


@router.post(
    "", status_code=201, response_model=ProblemOut, responses=PROBLEMS, summary="Open a problem record"
)
async def create_problem(body: ProblemIn, rt: RuntimeDep, principal: Writer) -> ProblemOut:
    async with rt.unit_of_work() as session:
        row = await problems.create_problem(session, deps(rt), **body.model_dump())
    return _out(row, [])


@router.get(
    "/{problem_id}", response_model=ProblemOut, responses=PROBLEMS, summary="A problem and its incidents"
)
async def get_problem(problem_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> ProblemOut:
    async with rt.sessions() as session:
        row = await problems.get_problem(session, problem_id)
        return _out(row, await problems.linked_incidents(session, problem_id))


@router.patch(
    "/{problem_id}", response_model=ProblemOut, responses=PROBLEMS, summary="Record root cause, workaround"
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
        row = await problems.update_problem(session, deps(rt), problem_id, changes)
        return _out(row, await problems.linked_incidents(session, problem_id))


@router.post(
    "/{problem_id}/incidents",
    response_model=ProblemOut,
    responses=PROBLEMS,
    summary="Link incidents to the problem",
)
async def link(problem_id: uuid.UUID, body: ProblemLinkIn, rt: RuntimeDep, principal: Writer) -> ProblemOut:
    async with rt.unit_of_work() as session:
        await problems.link_incidents(session, deps(rt), problem_id, list(dict.fromkeys(body.incident_ids)))
        row = await problems.get_problem(session, problem_id)
        return _out(row, await problems.linked_incidents(session, problem_id))
