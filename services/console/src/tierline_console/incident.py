"""The incident page (``/incidents/{id}``), its two fragments, and its actions.

The page shows ``…/detail`` (fields, SLA clocks, assignment, vendor cases, problem, knowledge,
timeline) and ``…/actions`` (a form per action the status and the key allow); ``incident.js``
reloads them when the live feed names this incident (the actions only while no form is being
filled in). Each action is ``POST /incidents/{id}/{action}``: a plain form gets a 303 back to the
page, an htmx one the fresh actions fragment; a refusal (the console's own checks, or the owning
service's problem+json) is shown in words next to its form, each field error by its field.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tierline_console import incident_view
from tierline_console.incident_view import ACTIONS, HOLD_REASONS, LOWER_TIERS, WRITE_SCOPE
from tierline_console.sessions import Session
from tierline_console.upstream import SessionEnded, UpstreamError, UpstreamRefused, UpstreamUnavailable
from tierline_console.web import CSRF_FIELD, CheckedSessionDep, Console, ConsoleDep, SessionDep
from tierline_shared.logging import get_logger

router = APIRouter(include_in_schema=False)
_log = get_logger(__name__)
MAX_CASES = 20
IDEMPOTENCY_FIELD = "idempotency_key"
DELIVERY_PAGE = 200  # the gateway's largest page of its delivery log (it has no case filter)


def idempotency_key(given: object) -> str:
    """The form's idempotency key if it is one (a UUID), else a new one."""
    try:
        return str(uuid.UUID(given if isinstance(given, str) else ""))
    except ValueError:
        return str(uuid.uuid4())


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def _read_incident(app: Console, session: Session, incident_id: uuid.UUID) -> dict[str, Any]:
    found = await app.upstreams.get("intake", f"/v1/incidents/{incident_id}", session.api_key)
    return incident_view.with_defaults(found)


async def _vendor(app: Console, session: Session, incident_id: uuid.UUID) -> tuple[list[Any], str | None]:
    """The incident's vendor cases with their deliveries, and a note when they cannot be read now.

    Nothing (and no note) when the key may not read them. Only intake's 401 ends a session: another
    service may not know a new key yet.
    """
    try:
        page = await app.upstreams.get(
            "vendor-gateway",
            "/v1/cases",
            session.api_key,
            params={"incident_id": str(incident_id), "limit": MAX_CASES},
        )
        cases = [c for c in (page or {}).get("items") or [] if isinstance(c, Mapping)]
        logs = await asyncio.gather(
            *(
                app.upstreams.get(
                    "vendor-gateway",
                    "/v1/deliveries",
                    session.api_key,
                    params={"case_id": str(c["id"]), "limit": DELIVERY_PAGE},
                )
                for c in cases
                if c.get("id")
            )
        )
    except UpstreamRefused as exc:
        if exc.status == 403:
            return [], None
        return [], f"The vendor gateway refused to show the vendor cases ({exc.message})."
    except (UpstreamUnavailable, SessionEnded):
        return [], "The vendor cases cannot be read right now."
    deliveries = [d for log in logs if isinstance(log, list) for d in log if isinstance(d, Mapping)]
    return incident_view.vendor_cases(cases, deliveries), None


def _detail_context(
    app: Console, incident: dict[str, Any], cases: list[Any], note: str | None
) -> dict[str, Any]:
    now = app.clock.now()
    return {
        "incident": incident,
        "clocks": incident_view.clocks(incident.get("sla"), now),
        "timeline": incident_view.timeline(incident.get("timeline") or []),
        "cases": cases,
        "vendor_note": note,
        "when": incident_view.time_text,
    }


def _actions_context(
    incident: dict[str, Any],
    session: Session,
    *,
    notice: str | None = None,
    failed: str | None = None,
    message: str | None = None,
    field_errors: dict[str, str] | None = None,
    other_errors: list[str] | None = None,
    values: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    actions = incident_view.available_actions(incident, session.identity.scopes)
    # A fresh key per form, kept for a refused one: a double submit is one action at intake.
    keys = {name: str(uuid.uuid4()) for name in actions}
    if failed in keys and idempotency_key:
        keys[failed] = idempotency_key
    return {
        "incident": incident,
        "actions": actions,
        "idempotency_keys": keys,
        "catalog": ACTIONS,
        "hold_reasons": HOLD_REASONS,
        "lower_tiers": LOWER_TIERS.get(str(incident.get("tier")), ()),
        "priorities": incident_view.PRIORITIES,
        "notice": notice,
        "failed": failed,
        "message": message,
        "field_errors": field_errors or {},
        "other_errors": other_errors or [],
        "values": values or {},
    }


async def _page(
    request: Request,
    app: Console,
    session: Session,
    incident_id: uuid.UUID,
    *,
    status: int = 200,
    **actions: Any,
) -> Response:
    incident = await _read_incident(app, session, incident_id)
    cases, note = await _vendor(app, session, incident_id)
    return app.render(
        request,
        "incident.html",
        session=session,
        status=status,
        title=str(incident.get("title") or "Incident"),
        **{**_detail_context(app, incident, cases, note), **_actions_context(incident, session, **actions)},
    )


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, incident_id: uuid.UUID, app: ConsoleDep, session: SessionDep, done: str | None = None
) -> Response:
    action = ACTIONS.get(done or "")
    return await _page(request, app, session, incident_id, notice=action.done if action else None)


@router.get("/incidents/{incident_id}/detail")
async def incident_detail(
    request: Request, incident_id: uuid.UUID, app: ConsoleDep, session: SessionDep
) -> Response:
    incident = await _read_incident(app, session, incident_id)
    cases, note = await _vendor(app, session, incident_id)
    context = _detail_context(app, incident, cases, note)
    return app.render(request, "incident_detail.html", session=session, **context)


@router.get("/incidents/{incident_id}/actions")
async def incident_actions(
    request: Request, incident_id: uuid.UUID, app: ConsoleDep, session: SessionDep
) -> Response:
    incident = await _read_incident(app, session, incident_id)
    return app.render(
        request, "incident_actions.html", session=session, **_actions_context(incident, session)
    )


def forbidden(request: Request, app: Console, session: Session, what: str) -> Response:
    """The console's own scope check: 403 before any upstream is called."""
    _log.warning("action_forbidden", path=request.url.path, key_id=session.identity.id)
    return app.render(
        request,
        "error.html",
        session=session,
        status=403,
        title="Forbidden",
        message=f"Your API key may not {what}: it lacks the {WRITE_SCOPE} scope.",
        errors=[],
    )


async def _refused(
    request: Request,
    app: Console,
    session: Session,
    incident_id: uuid.UUID,
    action: str,
    *,
    status: int,
    message: str,
    field_errors: dict[str, str],
    other_errors: list[str],
    values: dict[str, str],
    idempotency_key: str,
) -> Response:
    """The refusal next to its form: the actions fragment for htmx (200, so htmx swaps it), else the page."""
    shown: dict[str, Any] = {
        "failed": action,
        "message": message,
        "field_errors": field_errors,
        "other_errors": other_errors,
        "values": values,
        "idempotency_key": idempotency_key,
    }
    if _is_htmx(request):
        incident = await _read_incident(app, session, incident_id)
        context = _actions_context(incident, session, **shown)
        return app.render(request, "incident_actions.html", session=session, **context)
    return await _page(request, app, session, incident_id, status=status, **shown)


@router.post("/incidents/{incident_id}/{action}")
async def act(
    request: Request, incident_id: uuid.UUID, action: str, app: ConsoleDep, session: CheckedSessionDep
) -> Response:
    known = ACTIONS.get(action)
    if known is None:
        return app.render(
            request, "error.html", session=session, status=404, title="No such action", message="", errors=[]
        )
    if not session.can(WRITE_SCOPE):
        return forbidden(request, app, session, known.verb.lower() + " incidents")
    form = await request.form()
    values = {
        k: v for k, v in form.items() if isinstance(v, str) and k not in (CSRF_FIELD, IDEMPOTENCY_FIELD)
    }
    key = idempotency_key(form.get(IDEMPOTENCY_FIELD))
    check = incident_view.check_form(action, values, session.display_name)
    if check.errors:
        return await _refused(
            request,
            app,
            session,
            incident_id,
            action,
            status=422,
            message="Some fields need attention.",
            field_errors=check.errors,
            other_errors=[],
            values=values,
            idempotency_key=key,
        )
    upstream, method, path = incident_view.upstream_call(action, str(incident_id))
    headers = {"Idempotency-Key": key} if upstream == "intake" else None  # the router checks from_tier
    try:
        await app.upstreams.request(upstream, method, path, session.api_key, json=check.body, headers=headers)
    except UpstreamError as exc:
        if isinstance(exc, SessionEnded) and upstream == "intake":
            raise  # intake does not know the key any more: the session ends
        by_field, rest = incident_view.errors_by_field(exc.errors, values)
        _log.info("action_refused", action=action, upstream=upstream, status=exc.status)
        status = exc.status if 400 <= exc.status < 500 else 502
        return await _refused(
            request,
            app,
            session,
            incident_id,
            action,
            status=status,
            message=f"{known.verb} was refused by {upstream}: {exc.message}",
            field_errors=by_field,
            other_errors=rest,
            values=values,
            idempotency_key=key,
        )
    _log.info("action_done", action=action, upstream=upstream, incident_id=str(incident_id))
    if _is_htmx(request):
        incident = await _read_incident(app, session, incident_id)
        response = app.render(
            request,
            "incident_actions.html",
            session=session,
            **_actions_context(incident, session, notice=known.done),
        )
        response.headers["HX-Trigger"] = "incident-changed"  # the detail reloads too
        return response
    return RedirectResponse(f"/incidents/{incident_id}?done={action}", status_code=303)
