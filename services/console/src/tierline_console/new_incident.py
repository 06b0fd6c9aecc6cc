"""The new-incident form (``/incidents/new``): L1 logs a phone call or a walk-in through intake.

The console checks what a form can get wrong (required fields, lengths, the choices); intake checks
the rest (e.g. a service's name pattern) and its 422 field errors are shown by their fields. Each
rendered form carries an idempotency key, so a double-submitted form creates one incident; a form
shown again after a refusal or an unanswered call keeps its key and what was typed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tierline_console.incident import forbidden
from tierline_console.incident_view import WRITE_SCOPE, errors_by_field
from tierline_console.sessions import Session
from tierline_console.upstream import SessionEnded, UpstreamError, UpstreamUnavailable
from tierline_console.web import CheckedSessionDep, Console, ConsoleDep, SessionDep
from tierline_shared.logging import get_logger

router = APIRouter(include_in_schema=False)
_log = get_logger(__name__)
CHANNELS = ("phone", "chat", "email", "web")
LEVELS = ("high", "medium", "low")
TYPES = {"incident": "Incident (something broke)", "service_request": "Service request (something asked for)"}
TEXTS = {"title": 200, "description": 20_000, "service": 120, "category": 120, "reporter": 320}
REQUIRED = ("title", "service", "category", "reporter")
CHOICES: dict[str, tuple[str, ...]] = {
    "channel": CHANNELS,
    "impact": LEVELS,
    "urgency": LEVELS,
    "type": tuple(TYPES),
}
FIELDS = (*TEXTS, *CHOICES)
UNANSWERED = (
    "{problem}, so the incident may or may not be logged. Submit the form again: it keeps its "
    "idempotency key, so intake logs it once."
)
DEFAULTS = {"channel": "phone", "impact": "medium", "urgency": "medium", "type": "incident"}


def check(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Intake's body for the form, and what is wrong with it by field."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, limit in TEXTS.items():
        value = form.get(name, "").strip()
        if not value:
            if name in REQUIRED:
                errors[name] = "required"
        elif len(value) > limit:
            errors[name] = f"at most {limit} characters"
        elif "\x00" in value:
            errors[name] = "must not contain NUL characters"
        else:
            body[name] = value
    for name, allowed in CHOICES.items():
        value = form.get(name, "").strip()
        if value in allowed:
            body[name] = value
        else:
            errors[name] = f"choose one of {', '.join(allowed)}"
    return body, errors


def _form(
    request: Request,
    app: Console,
    session: Session,
    *,
    status: int = 200,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    message: str | None = None,
    other_errors: list[str] | None = None,
    idempotency_key: str | None = None,
) -> Response:
    return app.render(
        request,
        "incident_new.html",
        session=session,
        status=status,
        title="New incident",
        values={**DEFAULTS, **(values or {})},
        errors=errors or {},
        message=message,
        other_errors=other_errors or [],
        channels=CHANNELS,
        levels=LEVELS,
        types=TYPES,
        idempotency_key=idempotency_key or str(uuid.uuid4()),
    )


@router.get("/incidents/new")
async def new_incident_form(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    await app.upstreams.get("intake", "/v1/access/me", session.api_key)  # a revoked key's session ends here
    if not session.can(WRITE_SCOPE):
        return forbidden(request, app, session, "log incidents")
    return _form(request, app, session)


def _idempotency_key(given: str | None) -> str:
    try:
        return str(uuid.UUID(given or ""))
    except ValueError:
        return str(uuid.uuid4())


@router.post("/incidents/new")
async def create_incident(request: Request, app: ConsoleDep, session: CheckedSessionDep) -> Response:
    if not session.can(WRITE_SCOPE):
        return forbidden(request, app, session, "log incidents")
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k in FIELDS}
    given = form.get("idempotency_key")
    key = _idempotency_key(given if isinstance(given, str) else None)
    body, errors = check(values)
    if errors:
        return _form(
            request,
            app,
            session,
            status=422,
            values=values,
            errors=errors,
            message="Some fields need attention.",
            idempotency_key=key,
        )
    try:
        created = await app.upstreams.request(
            "intake", "POST", "/v1/incidents", session.api_key, json=body, headers={"Idempotency-Key": key}
        )
    except SessionEnded:
        raise  # intake does not know the key any more: the session ends
    except UpstreamError as exc:
        by_field, rest = errors_by_field(exc.errors, FIELDS)
        _log.info(
            "create_refused", status=exc.status, upstream_unavailable=isinstance(exc, UpstreamUnavailable)
        )
        if isinstance(exc, UpstreamUnavailable):
            status, message = exc.status, UNANSWERED.format(problem=exc.message)
        else:
            status = exc.status if 400 <= exc.status < 500 else 502
            message = f"Intake refused the incident: {exc.message}"
        return _form(
            request,
            app,
            session,
            status=status,
            values=values,
            errors=by_field,
            message=message,
            other_errors=rest,
            idempotency_key=key,  # the same: sent again, intake logs the incident once
        )
    incident_id = uuid.UUID(str(created["id"]))
    _log.info("incident_logged", incident_id=str(incident_id), channel=body["channel"])
    return RedirectResponse(f"/incidents/{incident_id}", status_code=303)
