"""Boards: a tier's (``/boards/L1``..``L4``) or a queue's (``/queues/{queue}``) open incidents.

Each board is a page with a filter form (GET) and its table, which is also served alone
(``…/rows``) for htmx to reload when the live feed (``GET /live``) announces a change. Intake's
list is newest first and paged: the board reads up to ``MAX_INCIDENTS`` of it and sorts what it
read, and says so when more match.
"""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tierline_console import board_view
from tierline_console.live import MAX_STREAM_SECONDS, LiveStream
from tierline_console.sessions import SESSION_COOKIE, Session
from tierline_console.web import TIERS, Console, ConsoleDep, SessionDep
from tierline_shared.problem import problem_response

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 200  # intake's largest page
MAX_INCIDENTS = 400  # read at most this many per board (two pages)


async def fetch_open(app: Console, session: Session, params: dict[str, Any]) -> tuple[list[Any], bool]:
    """Up to MAX_INCIDENTS of intake's list for ``params``, and whether more match."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        page = await app.upstreams.get(
            "intake",
            "/v1/incidents",
            session.api_key,
            params={**params, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})},
        )
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items, False
        if len(items) >= MAX_INCIDENTS:
            return items[:MAX_INCIDENTS], True


async def _board(
    request: Request, app: Console, session: Session, *, kind: str, name: str, fragment: bool
) -> Response:
    params = {key: request.query_params.getlist(key) for key in request.query_params}
    filters, errors = board_view.parse_filters(params)
    if kind == "queue":
        filters = dataclasses.replace(filters, queue=[])  # a queue's board is that queue's
    base = f"/boards/{name}" if kind == "tier" else f"/queues/{quote(name, safe='')}"
    context: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "base": base,
        "filters": filters,
        "sorts": board_view.SORTS,
        "priorities": board_view.PRIORITIES,
        "statuses": board_view.OPEN_STATUSES,
        "types": board_view.TYPES,
        "errors": errors,
        "rows": [],
        "more": False,
        "max_incidents": MAX_INCIDENTS,
    }
    status = 422 if errors else 200
    if not errors:
        items, more = await fetch_open(app, session, filters.upstream_params(**{kind: name}))
        context["rows"] = board_view.sort_rows(board_view.rows(items, app.clock.now()), filters.sort)
        context["more"] = more
    template = "board_rows.html" if fragment else "board.html"
    return app.render(request, template, session=session, status=status, **context)


def _no_such_tier(request: Request, app: Console, session: Session) -> Response:
    return app.render(
        request,
        "error.html",
        session=session,
        status=404,
        title="No such board",
        message=f"There are boards for {', '.join(TIERS)}.",
        errors=[],
    )


@router.get("/boards/{tier}")
async def tier_board(request: Request, tier: str, app: ConsoleDep, session: SessionDep) -> Response:
    if tier not in TIERS:
        return _no_such_tier(request, app, session)
    return await _board(request, app, session, kind="tier", name=tier, fragment=False)


@router.get("/boards/{tier}/rows")
async def tier_rows(request: Request, tier: str, app: ConsoleDep, session: SessionDep) -> Response:
    if tier not in TIERS:
        return _no_such_tier(request, app, session)
    return await _board(request, app, session, kind="tier", name=tier, fragment=True)


def _bad_queue(queue: str) -> str | None:
    if not 0 < len(queue) <= board_view.MAX_TEXT:
        return f"queue: a queue's name is 1 to {board_view.MAX_TEXT} characters"
    return None


@router.get("/queues/{queue}")
async def queue_board(request: Request, queue: str, app: ConsoleDep, session: SessionDep) -> Response:
    return await _queue_board(request, queue, app, session, fragment=False)


@router.get("/queues/{queue}/rows")
async def queue_rows(request: Request, queue: str, app: ConsoleDep, session: SessionDep) -> Response:
    return await _queue_board(request, queue, app, session, fragment=True)


async def _queue_board(
    request: Request, queue: str, app: Console, session: Session, *, fragment: bool
) -> Response:
    if problem := _bad_queue(queue):
        return app.render(
            request,
            "error.html",
            session=session,
            status=404,
            title="No such queue",
            message=problem,
            errors=[],
        )
    return await _board(request, app, session, kind="queue", name=queue, fragment=fragment)


@router.get("/live")
async def live(request: Request, app: ConsoleDep) -> Response:
    """Server-Sent Events: ``event: incident`` (id: the CloudEvents id); replays after Last-Event-ID.

    Without a valid session it answers 401 problem+json (not the sign-in page), so the browser's
    EventSource fails visibly; the stream ends by itself at the session's expiry."""
    now = app.clock.now()
    session = app.sealer.open(request.cookies.get(SESSION_COOKIE), now)
    if session is None:
        return problem_response(401, "Unauthorized", "no current session: reload the page or sign in again")
    owner = session.identity.id
    if refusal := app.hub.refusal(owner, app.settings.live_max_streams):
        status = 503 if app.hub.open_streams >= app.settings.live_max_streams else 429
        return problem_response(status, HTTPStatus(status).phrase, refusal, headers={"Retry-After": "10"})
    ends = session.issued_at + app.sealer.lifetime
    if app.sealer.idle is not None:  # unused that long, it ends too (the stream does not renew it)
        ends = min(ends, session.seen + app.sealer.idle)
    session_left = (ends - now).total_seconds()
    last_id = request.headers.get("Last-Event-ID") or request.query_params.get("lastEventId")
    sub = app.hub.subscribe(last_id.strip()[:100] if last_id else None, owner=owner)
    return LiveStream(
        app.hub,
        sub,
        heartbeat=app.settings.live_heartbeat_seconds,
        lifetime=max(0.0, min(MAX_STREAM_SECONDS, session_left)),
    )
