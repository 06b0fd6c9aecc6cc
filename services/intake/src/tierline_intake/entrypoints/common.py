"""What every intake route shares: the problem responses, rendering and idempotent writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, NoReturn, cast

from fastapi import Request
from fastapi.responses import JSONResponse

from tierline_intake.domain.incident import Incident
from tierline_intake.domain.sla import ClockReading, ClockState
from tierline_intake.entrypoints.schemas import (
    IncidentOut,
    KnowledgeLinkOut,
    ProblemRefOut,
    SlaClockOut,
    TimelineItemOut,
)
from tierline_intake.service_layer import queries
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.queries import IncidentView
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from tierline_shared import idempotency
from tierline_shared.api import KEY_PROBLEMS
from tierline_shared.auth import Principal
from tierline_shared.errors import InvalidInput
from tierline_shared.idempotency import Outcome
from tierline_shared.runtime import Runtime
from tierline_shared.text import unstorable

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


def invalid_query(field: str, reason: str) -> NoReturn:
    raise InvalidInput(
        f"Invalid query parameter {field}.", errors=[{"field": field, "in": "query", "reason": reason}]
    )


def check_values(field: str, values: Iterable[str] | None, allowed: set[str]) -> None:
    for value in values or []:
        if value not in allowed:
            invalid_query(field, f"{value!r} is not one of {', '.join(sorted(allowed))}")


def check_times(**times: datetime | None) -> None:
    """Window bounds must name their offset and stay within what PostgreSQL and UTC can hold."""
    for name, value in times.items():
        if value is not None and value.tzinfo is None:
            invalid_query(name, "needs a time zone offset, e.g. 2026-11-23T09:00:00Z")
        if value is not None and not 1 < value.year < 9999:
            invalid_query(name, "must be between the years 2 and 9998")


def check_storable(**texts: str | None) -> None:
    for name, text in texts.items():
        if text is not None and unstorable(text):
            invalid_query(name, "must not contain NUL characters or lone surrogates")


ClockView = queries.SlaClock

_COMPUTED = frozenset({"knowledge", "problem", "sla", "timeline"})


def _sla_clock(view: ClockView, now: datetime) -> SlaClockOut:
    reading = ClockReading(
        state=ClockState(view.state),
        due_at=view.due_at,
        paused_left=view.remaining_seconds,
        met_at=view.met_at,
    )
    return SlaClockOut(
        state=cast(Any, view.state),  # pydantic checks it against the schema's states
        due_at=view.due_at,
        remaining_seconds=reading.remaining_seconds(now),
        warning_threshold=view.warning_threshold,
        last_warning=view.last_warning,
        breached=view.breached_at is not None,
        breached_at=view.breached_at,
        met_at=view.met_at,
        tier=view.tier,
    )


def render(view: IncidentView, now: datetime) -> IncidentOut:
    """The incident as the API shows it; SLA countdowns are as of ``now`` (the runtime's clock)."""
    incident, problem = view.incident, view.problem
    return IncidentOut(
        **{name: getattr(incident, name) for name in IncidentOut.model_fields if name not in _COMPUTED},
        knowledge=[KnowledgeLinkOut(**link) for link in incident.knowledge or []],
        problem=ProblemRefOut(
            id=problem.id, title=problem.title, known_error=problem.known_error, workaround=problem.workaround
        )
        if problem
        else None,
        sla={c.clock: _sla_clock(c, now) for c in view.clocks},
        timeline=[
            TimelineItemOut(at=e.at, kind=e.kind, summary=e.summary, source=e.source, data=e.data)
            for e in view.timeline
        ],
    )


async def idempotent_write(
    request: Request,
    rt: Runtime,
    principal: Principal,
    work: Callable[[IntakeUnitOfWork], Awaitable[Outcome]],
) -> JSONResponse:
    """One unit of work around ``work``, replayed for a repeated Idempotency-Key."""
    async with rt.unit_of_work() as session:
        uow = deps(rt).unit_of_work(session)
        return await idempotency.run(
            request,
            session,
            uow.idempotency_keys,
            owner=str(principal.key_id),
            now=rt.clock.now(),
            work=lambda: work(uow),
        )


async def write_incident(
    request: Request,
    rt: Runtime,
    principal: Principal,
    use_case: Callable[[IntakeUnitOfWork, IntakeDeps], Awaitable[Incident]],
    status_code: int = 200,
) -> JSONResponse:
    """An idempotent write whose answer is the incident as it is afterwards."""

    async def work(uow: IntakeUnitOfWork) -> Outcome:
        incident = await use_case(uow, deps(rt))
        return Outcome(status_code, render(await queries.view(uow, incident), rt.clock.now()), {})

    return await idempotent_write(request, rt, principal, work)
