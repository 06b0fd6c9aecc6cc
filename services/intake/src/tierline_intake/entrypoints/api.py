"""Intake's incident API: create, read, list, edit, and the lifecycle actions — thin routes."""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Body, Query, Request, status
from fastapi.responses import JSONResponse

from tierline_intake.domain.incident import INCIDENT_TYPES, Incident
from tierline_intake.entrypoints.common import (
    IDEMPOTENCY_HEADER,
    PROBLEMS,
    check_storable,
    check_times,
    check_values,
    deps,
    idempotent_write,
    invalid_query,
    render,
    write_incident,
)
from tierline_intake.entrypoints.schemas import (
    AcknowledgeIn,
    ActorIn,
    CsatIn,
    HoldIn,
    IncidentIn,
    IncidentOut,
    IncidentPageOut,
    IncidentPatch,
    IncidentSummaryOut,
    NoteIn,
    ReopenIn,
    ResolveIn,
    SlaSummaryOut,
    TimelineItemOut,
)
from tierline_intake.service_layer import incidents, lifecycle, queries
from tierline_intake.service_layer.commands import CreateIncident, ResolveIncident, UpdateIncident
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from tierline_shared.api import Reader, RuntimeDep, Writer
from tierline_shared.idempotency import Outcome

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])
Channel = str


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IncidentOut,
    responses={
        200: {"description": "An open incident with this dedup_key exists; it counted one more occurrence"},
        **PROBLEMS,
    },
    openapi_extra=IDEMPOTENCY_HEADER,
    summary="Create an incident",
)
async def create_incident(
    body: IncidentIn, request: Request, rt: RuntimeDep, principal: Writer
) -> JSONResponse:
    async def work(uow: IntakeUnitOfWork) -> Outcome:
        incident, created = await incidents.create_incident(
            uow, deps(rt), CreateIncident(**body.model_dump())
        )
        location = str(request.url_for("get_incident", incident_id=str(incident.id)))
        answer = render(await queries.view(uow, incident), rt.clock.now())
        return Outcome(201 if created else 200, answer, {"Location": location})

    return await idempotent_write(request, rt, principal, work)


@router.get("", response_model=IncidentPageOut, responses=PROBLEMS, summary="List incidents, newest first")
async def list_incidents(
    rt: RuntimeDep,
    principal: Reader,
    status_: Annotated[
        list[str] | None, Query(alias="status", description="open, acknowledged, on_hold, resolved, closed")
    ] = None,
    priority: Annotated[list[str] | None, Query(description="P1..P4; repeat for several")] = None,
    tier: Annotated[list[str] | None, Query(description="L1..L4; repeat for several")] = None,
    type_: Annotated[
        list[str] | None, Query(alias="type", description="incident, service_request; repeat for several")
    ] = None,
    queue: Annotated[list[str] | None, Query(description="queue names; repeat for several")] = None,
    assignee: Annotated[str | None, Query(max_length=100, description="the agent holding it")] = None,
    service: Annotated[str | None, Query(max_length=120)] = None,
    category: Annotated[str | None, Query(max_length=120)] = None,
    product: Annotated[str | None, Query(max_length=120)] = None,
    customer: Annotated[str | None, Query(max_length=120)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    problem_id: Annotated[uuid.UUID | None, Query(description="incidents linked to this problem")] = None,
    created_since: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
    created_until: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> IncidentPageOut:
    check_values("status", status_, {"open", "acknowledged", "on_hold", "resolved", "closed"})
    check_values("priority", priority, {"P1", "P2", "P3", "P4"})
    check_values("tier", tier, {"L1", "L2", "L3", "L4"})
    check_values("type", type_, set(INCIDENT_TYPES))
    check_times(created_since=created_since, created_until=created_until)
    check_storable(
        service=service,
        category=category,
        product=product,
        customer=customer,
        channel=channel,
        cursor=cursor,
        assignee=assignee,
    )
    for name in queue or []:
        if not 0 < len(name) <= 120:
            invalid_query("queue", "must be 1 to 120 characters")
        check_storable(queue=name)
    flt = queries.IncidentFilter(
        status=status_,
        priority=priority,
        tier=tier,
        type=type_,
        queue=queue,
        assignee=assignee,
        service=service,
        category=category,
        product=product,
        customer=customer,
        channel=channel,
        problem_id=problem_id,
        created_since=created_since,
        created_until=created_until,
    )
    async with rt.sessions() as session:
        items, next_cursor = await queries.list_incidents(
            deps(rt).unit_of_work(session), flt, limit=limit, cursor=cursor, now=rt.clock.now()
        )
    return IncidentPageOut(items=[_summary(item) for item in items], next_cursor=next_cursor)


def _summary(item: queries.ListedIncident) -> IncidentSummaryOut:
    row = {name: getattr(item.row, name) for name in IncidentSummaryOut.model_fields if name not in _LISTED}
    sla = None if item.sla is None else SlaSummaryOut(**dataclasses.asdict(item.sla))
    return IncidentSummaryOut(**row, waiting_since=item.waiting_since, sla=sla)


_LISTED = frozenset({"waiting_since", "sla"})  # what the list adds to the incident's row


@router.get(
    "/{incident_id}",
    response_model=IncidentOut,
    responses=PROBLEMS,
    summary="An incident with SLA and timeline",
)
async def get_incident(incident_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> IncidentOut:
    async with rt.sessions() as session:
        view = await queries.view_of(deps(rt).unit_of_work(session), incident_id)
    return render(view, rt.clock.now())


@router.get(
    "/{incident_id}/timeline",
    response_model=list[TimelineItemOut],
    responses=PROBLEMS,
    summary="What happened, in order",
)
async def get_timeline(incident_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> list[TimelineItemOut]:
    async with rt.sessions() as session:
        entries = await queries.timeline(deps(rt).unit_of_work(session), incident_id)
    return [
        TimelineItemOut(at=e.at, kind=e.kind, summary=e.summary, source=e.source, data=e.data)
        for e in entries
    ]


@router.patch(
    "/{incident_id}",
    response_model=IncidentOut,
    responses=PROBLEMS,
    openapi_extra=IDEMPOTENCY_HEADER,
    summary="Edit priority, impact, urgency, type, category, service, product, title or description",
)
async def patch_incident(
    incident_id: uuid.UUID, body: IncidentPatch, request: Request, rt: RuntimeDep, principal: Writer
) -> JSONResponse:
    changes = body.model_dump(exclude_unset=True, exclude={"by"})

    return await write_incident(
        request,
        rt,
        principal,
        lambda uow, d: lifecycle.update_incident(uow, d, incident_id, UpdateIncident(changes, by=body.by)),
    )


# -- the lifecycle actions: POST /v1/incidents/{incident_id}/<action>, answered with the incident


def _param(name: str, annotation: Any, **default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation, **default)


Run = Callable[[IntakeUnitOfWork, IntakeDeps, uuid.UUID, Any], Awaitable[Incident]]


def _action(
    name: str, summary: str, body: Any, run: Run, *, path: str | None = None, status_code: int = 200
) -> None:
    """Mount action ``name`` (at ``path``, by default its name): ``run`` does it with the request's body
    (None if an optional one is absent).

    An optional body (``X | None``) is the last parameter, defaulting to None; a required one
    follows the incident id, as FastAPI shows them.
    """

    async def endpoint(
        incident_id: uuid.UUID, request: Request, rt: RuntimeDep, principal: Writer, body: Any = None
    ) -> JSONResponse:
        return await write_incident(
            request, rt, principal, lambda uow, d: run(uow, d, incident_id, body), status_code=status_code
        )

    edge = [_param("request", Request), _param("rt", RuntimeDep), _param("principal", Writer)]
    if type(None) in get_args(body):
        params = [
            _param("incident_id", uuid.UUID),
            *edge,
            _param("body", Annotated[body, Body()], default=None),
        ]
    else:
        params = [_param("incident_id", uuid.UUID), _param("body", body), *edge]
    endpoint.__signature__ = inspect.Signature(params, return_annotation=JSONResponse)  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = name
    router.post(
        f"/{{incident_id}}/{path or name}",
        response_model=IncidentOut,
        status_code=status_code,
        responses=PROBLEMS,
        openapi_extra=IDEMPOTENCY_HEADER,
        summary=summary,
    )(endpoint)


def _by(body: ActorIn | AcknowledgeIn | ReopenIn | None) -> str | None:
    return body.by if body else None


def _resolution(body: ResolveIn | None) -> ResolveIncident:
    return ResolveIncident(**body.model_dump()) if body else ResolveIncident()


_action(
    "acknowledge",
    "Acknowledge: someone is on it",
    AcknowledgeIn | None,
    lambda uow, d, id, body: incidents.acknowledge_incident(uow, d, id, _by(body)),
)
_action(
    "resolve",
    "Resolve, with a resolution code, note and knowledge article",
    ResolveIn | None,
    lambda uow, d, id, body: incidents.resolve_incident(uow, d, id, _resolution(body)),
)
_action(
    "hold",
    "Put on hold (awaiting customer, vendor or change)",
    HoldIn,
    lambda uow, d, id, body: lifecycle.put_on_hold(
        uow, d, id, reason=body.reason, note=body.note, by=body.by
    ),
)
_action(
    "resume",
    "Resume work after a hold",
    ActorIn | None,
    lambda uow, d, id, body: lifecycle.resume(uow, d, id, by=_by(body)),
)
_action(
    "reopen",
    "Reopen a resolved incident (within the reopen window)",
    ReopenIn | None,
    lambda uow, d, id, body: lifecycle.reopen(uow, d, id, reason=body.reason if body else None, by=_by(body)),
)
_action(
    "close",
    "Close a resolved incident for good",
    ActorIn | None,
    lambda uow, d, id, body: lifecycle.close(uow, d, id, by=_by(body)),
)
_action(
    "add_note",
    "Add a note to the timeline",
    NoteIn,
    lambda uow, d, id, body: lifecycle.add_note(uow, d, id, text=body.text, author=body.author),
    path="notes",
    status_code=201,
)
_action(
    "csat",
    "Record customer satisfaction (1-5, once, after resolution)",
    CsatIn,
    lambda uow, d, id, body: lifecycle.record_csat(uow, d, id, score=body.score, comment=body.comment),
    status_code=201,
)
