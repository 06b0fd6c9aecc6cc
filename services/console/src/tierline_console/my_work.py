"""My work (``/my-work``): what the signed-in person holds, nearest breach first, and what waits in
the queues they serve.

The person is the key's ``person`` (else its name), the router's agent of that name. Held: intake's
open incidents with ``assignee`` = the agent. Waiting: the open incidents of the agent's queues (the
router says which) that nobody holds and that wait since some time. The tables are reloaded alone
(``/my-work/rows``) when the live feed announces a change, as the boards are. The person may also
go on shift or away here (the router's availability, with ``incidents:write``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tierline_console import board_view
from tierline_console.board import MAX_INCIDENTS, fetch_open
from tierline_console.sessions import Session
from tierline_console.upstream import SessionEnded, UpstreamRefused, UpstreamUnavailable
from tierline_console.web import CheckedSessionDep, Console, ConsoleDep, SessionDep

router = APIRouter(include_in_schema=False)


def agent_name(session: Session) -> str:
    """The router's agent the session is: the key's person, else its name."""
    return session.identity.person or session.identity.name


@dataclass
class MyWork:
    agent: str
    known: bool = True  # the router knows the agent
    available: bool | None = None
    queues: list[str] = field(default_factory=list)
    router_problem: str | None = None  # why the queues are unknown, in words
    held: list[board_view.Row] = field(default_factory=list)
    waiting: list[board_view.Row] = field(default_factory=list)
    more: bool = False  # a list was cut at MAX_INCIDENTS


async def _agent(app: Console, session: Session, work: MyWork) -> None:
    try:
        found = await app.upstreams.get("router", f"/v1/agents/{quote(work.agent, safe='')}", session.api_key)
    except UpstreamRefused as exc:
        if exc.status != 404:
            raise
        work.known = False
        return
    except UpstreamUnavailable as exc:
        work.router_problem = exc.message
        return
    except SessionEnded:  # only intake's 401 ends a session
        work.router_problem = (
            "your API key is not yet known to the router (the other services learn new keys from intake "
            "a little later; try again in a moment)"
        )
        return
    work.available = bool(found.get("available"))
    work.queues = [str(q) for q in found.get("queues") or []]


async def my_work(app: Console, session: Session) -> MyWork:
    work = MyWork(agent=agent_name(session))
    now = app.clock.now()
    statuses = list(board_view.OPEN_STATUSES)
    held, more = await fetch_open(app, session, {"status": statuses, "assignee": work.agent})
    work.held = board_view.sort_rows(board_view.rows(held, now))
    await _agent(app, session, work)
    if work.queues:
        queued, more_queued = await fetch_open(app, session, {"status": statuses, "queue": work.queues})
        waiting = [i for i in queued if not i.get("assignee") and i.get("waiting_since")]
        work.waiting = board_view.sort_rows(board_view.rows(waiting, now))
        more = more or more_queued
    work.more = more
    return work


async def _page(request: Request, app: Console, session: Session, *, fragment: bool) -> Response:
    work = await my_work(app, session)
    return app.render(
        request,
        "my_work_rows.html" if fragment else "my_work.html",
        session=session,
        title="My work",
        work=work,
        max_incidents=MAX_INCIDENTS,
        can_toggle=session.can("incidents:write"),
        notice=_NOTICES.get(request.query_params.get("done", "")),
    )


_NOTICES = {"on": "You are on shift: new incidents may be assigned to you.", "away": "You are away."}


@router.get("/my-work")
async def my_work_page(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    return await _page(request, app, session, fragment=False)


@router.get("/my-work/rows")
async def my_work_rows(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    return await _page(request, app, session, fragment=True)


@router.post("/my-work/availability")
async def my_availability(request: Request, app: ConsoleDep, session: CheckedSessionDep) -> Response:
    """Go on shift or away: the router's ``PUT /v1/agents/{me}/availability``."""
    form = await request.form()
    available = available_value(form.get("available"))
    if available is None:
        return not_valid(request, app, session, "available: must be true or false")
    await set_availability(app, session, agent_name(session), available)
    return RedirectResponse(f"/my-work?done={'on' if available else 'away'}", status_code=303)


async def set_availability(app: Console, session: Session, agent: str, available: bool) -> None:
    path = f"/v1/agents/{quote(agent, safe='')}/availability"
    await app.upstreams.request("router", "PUT", path, session.api_key, json={"available": available})


def not_valid(request: Request, app: Console, session: Session, message: str) -> Response:
    """A form's field refused before any upstream call: a 422 page naming it."""
    return app.render(
        request, "error.html", session=session, status=422, title="Not valid", message=message, errors=[]
    )


def available_value(form_value: Any) -> bool | None:
    """``true``/``false`` of a form field; None for anything else."""
    return {"true": True, "false": False}.get(form_value) if isinstance(form_value, str) else None
