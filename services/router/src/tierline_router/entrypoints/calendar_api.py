"""The router's calendar API: schedules as iCalendar feeds, and layers imported from them.

``GET /v1/schedules/{name}.ics`` and ``GET /v1/people/{name}/shifts.ics`` answer RFC 5545
calendars of the final shifts overlapping the range, each whole (not cut at the range's edges,
so an event keeps its bounds and UID from one read to the next). Calendar apps cannot send an
API key, so both also take ``?token=``: a signed, non-expiring feed token (itsdangerous, keyed
by TIERLINE_LINK_SECRET, the secret the notifier and intake use for links; rotating it revokes
every feed) naming what it opens (``schedule:{name}`` or ``person:{name}``). ``GET …/feed``
hands a reader the feed's URL. ``POST /v1/schedules/{name}/import`` (admin) reads an .ics file
(at most 1 MiB, refused before parsing) into a calendar layer: recurrences expanded over the
next year, people matched to agents; a refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials
from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import AwareDatetime, BaseModel
from starlette.concurrency import run_in_threadpool

from tierline_router.adapters.ical import MAX_ICS_BYTES, calendar_of, layer_from_calendar
from tierline_router.domain.schedules import MAX_RANGE, OVERRIDE, CalendarLayer, InvalidSchedule, Shift
from tierline_router.domain.schedules.model import EARLIEST, LATEST
from tierline_router.entrypoints.configuration import WORK
from tierline_router.service_layer import schedules
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared.api import KEY_PROBLEMS, Admin, Reader, RuntimeDep
from tierline_shared.auth import bearer
from tierline_shared.catalog_schemas import NAME_PATTERN, NamePath
from tierline_shared.errors import (
    Forbidden,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from tierline_shared.links import parse_secrets
from tierline_shared.runtime import Runtime

router = APIRouter(tags=["schedules"])

ICALENDAR = "text/calendar"
MEDIA_TYPE = f"{ICALENDAR}; charset=utf-8"
FEED_SALT = "tierline.calendar-feed.v1"  # feed tokens can never pass for acknowledge or CSAT links
PURPOSE = "calendar"
BEFORE, AHEAD = timedelta(days=30), timedelta(days=180)  # what a feed shows by default
IMPORT_BEFORE, IMPORT_AHEAD = timedelta(days=1), timedelta(days=366)  # what an import expands

PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    401: {"description": "No API key or feed token, or one that is not ours (problem+json)"},
    403: {"description": "The key lacks the scope, or the token opens another feed (problem+json)"},
    404: {"description": "No such schedule or person, or feeds are not enabled (problem+json)"},
    422: {"description": "Invalid input, naming the field (problem+json)"},
}
_CALENDAR_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {ICALENDAR: {"schema": {"type": "string"}}}, "description": "An RFC 5545 calendar"},
    **PROBLEMS,
}
From = Annotated[
    AwareDatetime | None,
    Query(alias="from", description="First instant shown, with offset (default: 30 days ago)"),
]
To = Annotated[
    AwareDatetime | None,
    Query(description="End of what is shown, with offset (default: 180 days ahead; at most 400 days)"),
]
Token = Annotated[
    str | None,
    Query(max_length=2048, description="A feed token from …/feed, for apps that cannot send an API key"),
]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
LayerName = Annotated[
    str,
    Query(min_length=1, max_length=100, pattern=NAME_PATTERN, description="The calendar layer to fill"),
]


class FeedsDisabled(NotFound):
    type_slug = "feeds-disabled"
    title = "Calendar feeds are not enabled here"


class FeedOut(BaseModel):
    url: str


class ImportOut(BaseModel):
    schedule: str
    layer: str
    shifts: int
    first_start: datetime
    last_start: datetime


# --- feed tokens ------------------------------------------------------------------------------


def _signer(rt: Runtime) -> URLSafeSerializer | None:
    """Signs with the newest link secret, verifies with any; None when no secret is set."""
    secret = rt.settings.link_secret
    secrets = parse_secrets(secret.get_secret_value() if secret is not None else None)
    return URLSafeSerializer(list(reversed(secrets)), salt=FEED_SALT) if secrets else None


def feed_token(rt: Runtime, subject: str) -> str:
    signer = _signer(rt)
    if signer is None:
        raise FeedsDisabled(
            "Calendar feeds are not enabled here: the router has no link secret (TIERLINE_LINK_SECRET)."
        )
    token: str = signer.dumps({"purpose": PURPOSE, "subject": subject})
    return token


def _check_token(rt: Runtime, token: str, subject: str) -> None:
    signer = _signer(rt)
    claim: object = None
    if signer is not None:
        try:
            claim = signer.loads(token)
        except (BadSignature, UnicodeError, ValueError):
            claim = None
    if not isinstance(claim, dict) or claim.get("purpose") != PURPOSE:
        raise Unauthorized("The feed token is not one of ours, or it was altered or cut short.")
    if claim.get("subject") != subject:
        raise Forbidden("This feed token opens another calendar.")


async def _admit(rt: Runtime, token: str | None, credentials: Credentials, subject: str) -> None:
    """A valid feed token for ``subject``, else an API key that may read; either is rate limited."""
    if token is not None:
        _check_token(rt, token, subject)
        await rt.access.count(f"feed:{subject}")
        return
    await rt.access.admit(credentials.credentials if credentials else None, "incidents:read")


def _feed_url(rt: Runtime, request: Request, path: str, subject: str) -> str:
    base = (rt.settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}{path}?token={feed_token(rt, subject)}"


# --- exports ----------------------------------------------------------------------------------


def _range(now: datetime, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    start = start if start is not None else now - BEFORE
    end = end if end is not None else start + BEFORE + AHEAD
    for field, moment in (("from", start), ("to", end)):
        if not EARLIEST <= moment.date() < LATEST:
            raise InvalidSchedule(field, f"must be between {EARLIEST} and {LATEST}")
    if end <= start:
        raise InvalidSchedule("to", "must be after from")
    if end - start > MAX_RANGE:
        raise InvalidSchedule("to", f"a range spans at most {MAX_RANGE.days} days")
    return start, end


def _calendar(data: bytes, filename: str) -> Response:
    return Response(
        content=data,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, max-age=60",
        },
    )


@dataclass(frozen=True)
class Feed:
    """A calendar feed: the subject its tokens are signed for, its title's name and its file name."""

    subject: str
    name: str
    filename: str


async def _feed(
    rt: Runtime,
    feed: Feed,
    token: str | None,
    credentials: HTTPAuthorizationCredentials | None,
    from_: datetime | None,
    to: datetime | None,
    shifts_of: Callable[[RouterUnitOfWork, datetime, datetime], Awaitable[list[tuple[str, Shift]]]],
) -> Response:
    """The feed as text/calendar, for a key or a token signed for ``feed.subject``."""
    await _admit(rt, token, credentials, feed.subject)
    now = rt.clock.now()
    start, end = _range(now, from_, to)
    async with WORK.reading(rt) as uow:
        found = await shifts_of(uow, start, end)
    return _calendar(calendar_of(f"On call: {feed.name}", found, now=now), feed.filename)


async def _agent(uow: RouterUnitOfWork, name: str) -> None:
    if name not in (await uow.catalog.load()).agents:
        raise NotFound(f"There is no agent {name!r}.", person=name)


@router.get(
    "/v1/schedules/{name}.ics",
    response_class=Response,
    responses=_CALENDAR_ANSWER,
    summary="A schedule's shifts as an iCalendar feed (API key or ?token=)",
)
async def schedule_calendar(
    name: NamePath,
    rt: RuntimeDep,
    credentials: Credentials,
    from_: From = None,
    to: To = None,
    token: Token = None,
) -> Response:
    async def shifts_of(uow: RouterUnitOfWork, start: datetime, end: datetime) -> list[tuple[str, Shift]]:
        return [(name, shift) for shift in await schedules.exported_shifts_of(uow, name, start, end)]

    return await _feed(
        rt, Feed(f"schedule:{name}", name, f"{name}.ics"), token, credentials, from_, to, shifts_of
    )


@router.get(
    "/v1/people/{name}/shifts.ics",
    response_class=Response,
    responses=_CALENDAR_ANSWER,
    summary="A person's shifts across every schedule as an iCalendar feed (API key or ?token=)",
)
async def person_calendar(
    name: NamePath,
    rt: RuntimeDep,
    credentials: Credentials,
    from_: From = None,
    to: To = None,
    token: Token = None,
) -> Response:
    async def shifts_of(uow: RouterUnitOfWork, start: datetime, end: datetime) -> list[tuple[str, Shift]]:
        await _agent(uow, name)
        return await schedules.people_shifts(uow, name, start, end)

    return await _feed(
        rt, Feed(f"person:{name}", name, f"{name}-shifts.ics"), token, credentials, from_, to, shifts_of
    )


@router.get(
    "/v1/schedules/{name}/feed",
    response_model=FeedOut,
    responses=PROBLEMS,
    summary="The address of a schedule's calendar feed, to subscribe to without a key",
)
async def schedule_feed(name: NamePath, rt: RuntimeDep, principal: Reader, request: Request) -> FeedOut:
    async with WORK.reading(rt) as uow:
        await schedules.schedule_of(uow, name)
    return FeedOut(url=_feed_url(rt, request, f"/v1/schedules/{quote(name)}.ics", f"schedule:{name}"))


@router.get(
    "/v1/people/{name}/feed",
    response_model=FeedOut,
    responses=PROBLEMS,
    summary="The address of a person's calendar feed (every schedule), to subscribe to without a key",
)
async def person_feed(name: NamePath, rt: RuntimeDep, principal: Reader, request: Request) -> FeedOut:
    async with WORK.reading(rt) as uow:
        await _agent(uow, name)
    return FeedOut(url=_feed_url(rt, request, f"/v1/people/{quote(name)}/shifts.ics", f"person:{name}"))


# --- import -----------------------------------------------------------------------------------


async def _ics_body(request: Request) -> bytes:
    """The body, if it is text/calendar of at most MAX_ICS_BYTES; refused before it is parsed."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != ICALENDAR:
        raise UnsupportedMediaType(
            f"Send the file as {ICALENDAR} (Content-Type: {ICALENDAR}).", expected=ICALENDAR
        )
    too_large = InvalidSchedule(
        "file", f"is larger than {MAX_ICS_BYTES} bytes (1 MiB), the most an import reads"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ICS_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ICS_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/v1/schedules/{name}/import",
    response_model=ImportOut,
    responses={
        **PROBLEMS,
        413: {"description": "The body is far larger than a calendar file may be (over 4 MiB)"},
        415: {"description": "The body is not text/calendar (problem+json)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {ICALENDAR: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    summary="Import a calendar layer from an iCalendar file (recurrences expanded over the next year)",
)
async def import_calendar(
    name: NamePath, rt: RuntimeDep, principal: Admin, request: Request, layer: LayerName = "imported"
) -> ImportOut:
    if layer == OVERRIDE:
        raise InvalidSchedule("layer", f"{OVERRIDE!r} names overrides, not a layer")
    data = await _ics_body(request)
    async with WORK.reading(rt) as uow:
        schedule = await schedules.schedule_of(uow, name)
        people = sorted((await uow.catalog.load()).agents)
    if any(  # checked again with the write (replace_layer): the schedule may change meanwhile
        existing.name == layer and not isinstance(existing, CalendarLayer) for existing in schedule.layers
    ):
        raise InvalidSchedule("layer", f"{layer!r} is a rotating layer; an import fills only calendar layers")
    now = rt.clock.now()
    read = partial(
        layer_from_calendar,
        data,
        name=layer,
        zone=schedule.timezone,
        people=people,
        window=(now - IMPORT_BEFORE, now + IMPORT_AHEAD),
    )
    imported: CalendarLayer = await run_in_threadpool(read)  # CPU work: off the event loop
    async with WORK.changing(rt) as uow:
        await schedules.replace_layer(
            uow, rt.state["deps"], name, imported, timezone=schedule.timezone.key, from_file=True
        )
    return ImportOut(
        schedule=name,
        layer=layer,
        shifts=len(imported.shifts),
        first_start=imported.shifts[0].start,
        last_start=imported.shifts[-1].start,
    )
