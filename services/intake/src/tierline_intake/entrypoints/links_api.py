"""Links that act: ``/v1/links/{token}``, the acknowledge and CSAT links of notifications.

No API key: the signed token is the credential. ``GET`` shows what the link would do and acts on
nothing (mail scanners prefetch links); ``POST`` does it, once. People get HTML pages; a client
whose Accept header names JSON (application/json, application/problem+json) and not text/html gets
JSON, and RFC 9457 problem+json for a refusal. Refusals change nothing: 404 links not enabled
(no TIERLINE_LINK_SECRET) or no such incident, 400 a token that is not ours (altered, cut short),
410 expired, 409 already used or not possible in the incident's status, 415 a body in another
media type, 422 a missing or bad score.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError

from tierline_intake.entrypoints import link_pages
from tierline_intake.entrypoints.common import deps
from tierline_intake.entrypoints.schemas import CsatIn
from tierline_intake.service_layer import links
from tierline_intake.service_layer.links import LinkView
from tierline_shared.api import RuntimeDep
from tierline_shared.errors import DomainError, InvalidInput, UnsupportedMediaType
from tierline_shared.problem import problem_response

router = APIRouter(prefix="/v1/links", tags=["links"])

Token = Annotated[
    str, Path(max_length=2048, description="The link's signed token, as the notification carried it")
]
FORM = "application/x-www-form-urlencoded"
_PAGE = {"text/html": {"schema": {"type": "string"}}}
_PROBLEM = "(an HTML page; problem+json when JSON is asked for)"
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": f"Not a link of ours: altered or cut short {_PROBLEM}", "content": _PAGE},
    404: {"description": f"Links not enabled here, or no such incident {_PROBLEM}", "content": _PAGE},
    409: {
        "description": f"Already used, or not possible in the incident's status {_PROBLEM}",
        "content": _PAGE,
    },
    410: {"description": f"The link has expired {_PROBLEM}", "content": _PAGE},
}
_CSAT_FIELDS = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5, "description": "CSAT links: 1 to 5"},
        "comment": {"type": "string", "maxLength": 5000},
    },
    "additionalProperties": False,
}
_BODY = {
    "requestBody": {
        "required": False,
        "description": "A CSAT link's score (and optional comment); an acknowledge link reads no body.",
        "content": {FORM: {"schema": _CSAT_FIELDS}, "application/json": {"schema": _CSAT_FIELDS}},
    }
}


class LinkOut(BaseModel):
    """What a link would do (GET, as JSON)."""

    purpose: Literal["acknowledge", "csat"]
    incident_id: uuid.UUID
    person: str | None
    expires_at: datetime
    title: str
    priority: str
    status: str


class LinkActedOut(LinkOut):
    """What a link did (POST, as JSON)."""

    csat_score: int | None = None


def wants_json(request: Request) -> bool:
    """The Accept header names JSON (or problem+json) and not HTML: a program, not a browser."""
    accept = request.headers.get("accept", "").lower()
    return "json" in accept and "text/html" not in accept


def _refused(request: Request, exc: DomainError) -> Response:
    if wants_json(request):
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            type_slug=exc.type_slug,
            instance=request.url.path,
            headers=exc.headers or None,
            **exc.extensions,
        )
    errors = exc.extensions.get("errors") or []
    html = link_pages.refusal(exc.title, exc.detail, errors)
    return HTMLResponse(html, status_code=exc.status, headers=link_pages.HEADERS)


def _out(view: LinkView, model: type[LinkOut]) -> JSONResponse:
    claim, incident = view.claim, view.incident
    values = {
        **claim.model_dump(include={"purpose", "incident_id", "person", "expires_at"}),
        "title": incident.title,
        "priority": incident.priority,
        "status": incident.status.value,
        "csat_score": incident.csat_score,
    }
    return JSONResponse(model.model_validate(values).model_dump(mode="json"))


def _preselect(score: str | None) -> int | None:
    """``?score=`` of a CSAT link: a score of the range preselects it; anything else nothing."""
    return int(score) if score in {str(n) for n in links.SCORES} else None


@router.get(
    "/{token}",
    response_model=LinkOut,
    responses={200: {"content": _PAGE}, **REFUSALS},
    summary="Show what a link would do (changes nothing)",
)
async def show_link(
    token: Token,
    request: Request,
    rt: RuntimeDep,
    score: Annotated[
        str | None, Query(max_length=16, description="CSAT links: the score to preselect (1 to 5)")
    ] = None,
) -> Response:
    try:
        claim = links.check_token(deps(rt), token)
        async with rt.sessions() as session:
            view = await links.read_link(deps(rt).unit_of_work(session), deps(rt), claim)
    except DomainError as exc:
        return _refused(request, exc)
    if wants_json(request):
        return _out(view, LinkOut)
    page = link_pages.confirm(view, preselect=_preselect(score))
    return HTMLResponse(page, headers=link_pages.HEADERS)


@router.post(
    "/{token}",
    response_model=LinkActedOut,
    responses={
        200: {"content": _PAGE},
        **REFUSALS,
        415: {"description": f"A body neither form-encoded nor JSON {_PROBLEM}", "content": _PAGE},
        422: {"description": f"A CSAT link without a valid score {_PROBLEM}", "content": _PAGE},
    },
    openapi_extra=_BODY,
    summary="Do what a link says: acknowledge, or record the CSAT score (once)",
)
async def use_link(token: Token, request: Request, rt: RuntimeDep) -> Response:
    try:
        claim = links.check_token(deps(rt), token)
        csat = _csat(await _fields(request)) if claim.purpose == "csat" else None
        async with rt.unit_of_work() as session:
            uow = deps(rt).unit_of_work(session)
            if csat is None:
                view = await links.use_link(uow, deps(rt), claim)
            else:
                view = await links.use_link(uow, deps(rt), claim, score=csat.score, comment=csat.comment)
    except DomainError as exc:
        return _refused(request, exc)
    if wants_json(request):
        return _out(view, LinkActedOut)
    return HTMLResponse(link_pages.done(view), headers=link_pages.HEADERS)


async def _fields(request: Request) -> dict[str, Any]:
    """The posted fields: a form (a browser's) or a JSON object; none for an empty body."""
    body = await request.body()
    if not body.strip():
        return {}
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media_type == FORM:
            pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
            return {name: values[-1] for name, values in pairs.items() if name in ("score", "comment")}
        if media_type == "application/json" or media_type.endswith("+json"):
            fields = json.loads(body)
        else:
            raise UnsupportedMediaType(
                f"Send the fields form-encoded ({FORM}) or as JSON, not {media_type or 'untyped'}."
            )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _invalid("body", f"cannot be read: {exc}") from None
    if not isinstance(fields, dict):
        raise _invalid("body", "must be a JSON object")
    return fields


def _csat(fields: dict[str, Any]) -> CsatIn:
    """The score (and comment) a CSAT link posts; an empty comment is none."""
    if fields.get("comment") == "":
        fields = {**fields, "comment": None}
    try:
        return CsatIn.model_validate(fields)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]} for e in exc.errors()
        ]
        names = ", ".join(sorted({e["field"] for e in errors}))
        raise InvalidInput(f"Choose a score from 1 to 5 ({names}).", errors=errors) from None


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid {field}: {reason}.", errors=[{"field": field, "reason": reason}])
