"""What every intake route shares: the problem responses, rendering and idempotent writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, ProblemRow, SlaClockView, idempotency_keys
from tierline_intake.entrypoints.schemas import (
    IncidentOut,
    KnowledgeLinkOut,
    ProblemRefOut,
    SlaClockOut,
    TimelineItemOut,
)
from tierline_intake.service_layer import queries
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared import idempotency
from tierline_shared.api import KEY_PROBLEMS
from tierline_shared.auth import Principal
from tierline_shared.idempotency import Outcome
from tierline_shared.runtime import Runtime

AUTH_PROBLEMS = {
    **KEY_PROBLEMS,
    429: {"description": "Rate limit exceeded; see Retry-After (problem+json)"},
}
PROBLEMS = {
    **AUTH_PROBLEMS,
    404: {"description": "No such incident (problem+json)"},
    409: {"description": "Not allowed in the incident's current status (problem+json)"},
    413: {"description": "Body larger than the limit (problem+json)"},
    422: {"description": "Invalid input; each error names its field (problem+json)"},
}
IDEMPOTENCY_HEADER = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Same key and body within 24 h replay the first answer; another body: 422.",
        }
    ]
}


def deps(rt: Runtime) -> IntakeDeps:
    value: IntakeDeps = rt.state["deps"]
    return value


_COMPUTED = frozenset({"knowledge", "problem", "sla", "timeline"})


async def render(session: AsyncSession, row: IncidentRow) -> IncidentOut:
    clocks = await session.scalars(select(SlaClockView).where(SlaClockView.incident_id == row.id))
    entries = await queries.timeline(session, row.id)
    problem = await session.get(ProblemRow, row.problem_id) if row.problem_id else None
    return IncidentOut(
        **{name: getattr(row, name) for name in IncidentOut.model_fields if name not in _COMPUTED},
        knowledge=[KnowledgeLinkOut(**link) for link in row.knowledge or []],
        problem=ProblemRefOut(
            id=problem.id, title=problem.title, known_error=problem.known_error, workaround=problem.workaround
        )
        if problem
        else None,
        sla={
            c.clock: SlaClockOut(
                state=c.state,
                due_at=c.due_at,
                remaining_seconds=c.remaining_seconds,
                warning_threshold=c.warning_threshold,
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


async def idempotent_write(
    request: Request,
    rt: Runtime,
    principal: Principal,
    work: Callable[[AsyncSession], Awaitable[Outcome]],
) -> JSONResponse:
    """One unit of work around ``work``, replayed for a repeated Idempotency-Key."""
    async with rt.unit_of_work() as session:
        return await idempotency.run(
            request,
            session,
            idempotency_keys,
            owner=str(principal.key_id),
            now=rt.clock.now(),
            work=lambda: work(session),
        )


async def write_incident(
    request: Request,
    rt: Runtime,
    principal: Principal,
    use_case: Callable[[AsyncSession, IntakeDeps], Awaitable[IncidentRow]],
    status_code: int = 200,
) -> JSONResponse:
    """An idempotent write whose answer is the incident as it is afterwards."""

    async def work(session: AsyncSession) -> Outcome:
        row = await use_case(session, deps(rt))
        return Outcome(status_code, await render(session, row), {})

    return await idempotent_write(request, rt, principal, work)
