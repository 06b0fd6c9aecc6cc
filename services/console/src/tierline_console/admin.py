"""Admin views (``/admin/...``): the services' configuration, read with the person's key, and the
edits their APIs allow, each a CSRF-checked form posted back here and sent upstream with that key.

- queues and escalation policies (router), SLA policies and calendars (SLA monitor): read only;
- agents (router): on shift / away, ``PUT /v1/agents/{name}/availability`` (``incidents:write``);
- vendors (vendor gateway): ``POST /v1/vendors/{name}/enable`` or ``/disable`` (``admin``);
- API keys (intake, ``admin``): ``DELETE /v1/api-keys/{id}`` revokes one.

An edit button shows only to a key holding the scope the owning service asks for; the service checks
again, and its refusal is shown in words. Only intake's 401 ends the session: the others learn new
keys a little later, and their 401 is a page saying so (``app``). After an edit the browser is sent
back to the list with a fixed notice (never text from the URL).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tierline_console.board_view import format_time
from tierline_console.dashboard_view import format_duration
from tierline_console.my_work import available_value, not_valid, set_availability
from tierline_console.sessions import Session
from tierline_console.web import CheckedSessionDep, Console, ConsoleDep, SessionDep

router = APIRouter(include_in_schema=False)

SECTIONS = {
    "queues": "Queues",
    "agents": "Agents",
    "escalation-policies": "Escalation policies",
    "sla": "SLA policies and calendars",
    "vendors": "Vendors",
    "api-keys": "API keys",
}
NOTICES = {
    "on-shift": "The agent is on shift.",
    "away": "The agent is away: their open incidents go to others in the queue, or wait.",
    "enabled": "The vendor is enabled.",
    "disabled": "The vendor is disabled: new cases go back to L3.",
    "revoked": "The key is revoked.",
}
MAX_NAME = 100
MAX_REASON = 500


def _listed(found: Any, key: str = "name") -> list[dict[str, Any]]:
    """An upstream's list: its items that are objects with ``key`` (one without cannot be named or
    acted on, so it is left out rather than failing the page)."""
    items = found if isinstance(found, list) else []
    return [dict(item) for item in items if isinstance(item, Mapping) and item.get(key)]


def _page(request: Request, app: Console, session: Session, section: str, **context: Any) -> Response:
    return app.render(
        request,
        "admin.html",
        session=session,
        title=SECTIONS.get(section, "Admin"),
        section=section,
        sections=SECTIONS,
        notice=NOTICES.get(request.query_params.get("done", "")),
        is_admin=session.can("admin"),
        can_write=session.can("incidents:write"),
        duration=format_duration,
        when=format_time,
        **context,
    )


@router.get("/admin")
async def admin_index(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    await app.upstreams.get("intake", "/v1/access/me", session.api_key)  # a revoked key ends here too
    return _page(request, app, session, "index")


@router.get("/admin/queues")
async def queues(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    found = await app.upstreams.get("router", "/v1/queues", session.api_key)
    return _page(request, app, session, "queues", queues=_listed(found))


@router.get("/admin/agents")
async def agents(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    found = await app.upstreams.get("router", "/v1/agents", session.api_key)
    return _page(request, app, session, "agents", agents=_listed(found))


def _name(value: str, limit: int = MAX_NAME) -> str | None:
    """A path's name as the upstream's path takes it; None when it cannot be one."""
    return quote(value, safe="") if 0 < len(value) <= limit and value.isprintable() else None


@router.post("/admin/agents/{name}/availability")
async def agent_availability(
    request: Request, name: str, app: ConsoleDep, session: CheckedSessionDep
) -> Response:
    form = await request.form()
    available = available_value(form.get("available"))
    if available is None:
        return not_valid(request, app, session, "available: must be true or false")
    if _name(name) is None:
        return not_valid(request, app, session, f"name: an agent's name is 1 to {MAX_NAME} characters")
    await set_availability(app, session, name, available)
    return RedirectResponse(f"/admin/agents?done={'on-shift' if available else 'away'}", status_code=303)


@router.get("/admin/escalation-policies")
async def escalation_policies(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    found = await app.upstreams.get("router", "/v1/escalation-policies", session.api_key)
    return _page(request, app, session, "escalation-policies", policies=_listed(found))


@router.get("/admin/sla")
async def sla(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    policies, calendars = await asyncio.gather(
        app.upstreams.get("sla-monitor", "/v1/sla/policies", session.api_key),
        app.upstreams.get("sla-monitor", "/v1/sla/calendars", session.api_key),
    )
    return _page(request, app, session, "sla", policies=_listed(policies), calendars=_listed(calendars))


@router.get("/admin/vendors")
async def vendors(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    found = await app.upstreams.get("vendor-gateway", "/v1/vendors", session.api_key)
    return _page(request, app, session, "vendors", vendors=_listed(found))


@router.post("/admin/vendors/{name}/{switch}")
async def vendor_switch(
    request: Request, name: str, switch: str, app: ConsoleDep, session: CheckedSessionDep
) -> Response:
    if switch not in ("enable", "disable"):
        return not_valid(request, app, session, "the action is enable or disable")
    vendor = _name(name, 63)
    if vendor is None:
        return not_valid(request, app, session, "name: a vendor's name is 1 to 63 characters")
    body: dict[str, Any] | None = None
    if switch == "disable":
        form = await request.form()
        reason = form.get("reason")
        reason = reason.strip() if isinstance(reason, str) else ""
        if len(reason) > MAX_REASON:
            return not_valid(request, app, session, f"reason: at most {MAX_REASON} characters")
        body = {"reason": reason} if reason else {}
    await app.upstreams.post("vendor-gateway", f"/v1/vendors/{vendor}/{switch}", session.api_key, json=body)
    return RedirectResponse(f"/admin/vendors?done={switch}d", status_code=303)


@router.get("/admin/api-keys")
async def api_keys(request: Request, app: ConsoleDep, session: SessionDep) -> Response:
    found = await app.upstreams.get("intake", "/v1/api-keys", session.api_key)
    keys = sorted(({"name": "", **k} for k in _listed(found, "id")), key=_key_order)
    return _page(request, app, session, "api-keys", keys=keys, own_key=session.identity.id)


def _key_order(key: Mapping[str, Any]) -> tuple[bool, str]:
    return (key.get("revoked_at") is not None, str(key.get("name") or ""))


@router.post("/admin/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, app: ConsoleDep, session: CheckedSessionDep) -> Response:
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        return not_valid(request, app, session, "key_id: not a key's id (a UUID)")
    await app.upstreams.request("intake", "DELETE", f"/v1/api-keys/{parsed}", session.api_key)
    return RedirectResponse("/admin/api-keys?done=revoked", status_code=303)
