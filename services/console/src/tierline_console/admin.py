"""Admin views (``/admin/...``): the services' configuration, read with the person's key, and the
edits their APIs allow, each a CSRF-checked form posted back here and sent upstream with that key.

- queues, escalation policies (router), SLA policies, calendars (SLA monitor), ``admin``: Edit puts
  the object, as JSON in a textarea, whole (PUT); New posts one (``KINDS``: one form for the four);
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
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from tierline_console.board_view import format_time
from tierline_console.dashboard_view import format_duration
from tierline_console.my_work import available_value, not_valid, set_availability
from tierline_console.sessions import Session
from tierline_console.upstream import UpstreamRefused, UpstreamUnavailable
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
    "saved": "Saved: the service has the change.",
    "created": "Created.",
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


# -- edit and new: one form for every kind whose service replaces it whole (PUT) ---------------------

MAX_JSON = 100_000  # characters of a textarea's JSON (the console's body limit is 256 KiB)
PLACEMENT_HINT = "rank (1 tried first), before or after (another's name) place it in the matching order"


def _duration_text(seconds: Any) -> Any:
    """Whole seconds as the services write a duration ("1h30m"); anything else is left as it is."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0 or seconds % 1:
        return seconds
    left, text = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            text, left = f"{text}{left // size}{unit}", left % size
    return text or "0s"


def _ladder(answer: Mapping[str, Any]) -> dict[str, Any]:
    """An escalation policy's ladder as PUT takes it: each step's budget as a duration (or null)."""
    steps = [s for s in answer.get("ladder") or [] if isinstance(s, Mapping)]
    return {
        "ladder": [{"tier": s.get("tier"), "budget": _duration_text(s.get("budget_seconds"))} for s in steps]
    }


@dataclass(frozen=True)
class Kind:
    """An object the admin pages edit: where its service keeps it and what its ``PUT`` takes."""

    label: str  # "queue"
    upstream: str  # "router"
    collection: str  # "/v1/queues": POST creates; ``/{name}``: GET reads, PUT replaces
    section: str  # the admin page that lists them
    defaults: Mapping[str, Any]  # what PUT takes, in the answer's order, with the New form's values
    durations: Mapping[str, str] = field(default_factory=dict)  # a body field: the answer's seconds
    name_in_body: bool = False  # PUT takes the name in the body too (the path's)
    ranked: bool = True  # PUT and POST also take rank, before or after
    adapt: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None  # nested fields' conversion

    def editable(self, answer: Mapping[str, Any]) -> dict[str, Any]:
        """An answer's fields as PUT takes them (durations as text; the rank, to keep its place)."""
        body = {"name": answer.get("name")} if self.name_in_body else {}
        for name in self.defaults:
            source = self.durations.get(name, name)
            if source in answer:
                body[name] = _duration_text(answer[source]) if name in self.durations else answer[source]
        if self.ranked and "rank" in answer:
            body["rank"] = answer["rank"]
        return {**body, **(self.adapt(answer) if self.adapt else {})}


def _lists(*names: str) -> dict[str, list[Any]]:  # empty lists: any
    return {name: [] for name in names}


KINDS: dict[str, Kind] = {
    "queues": Kind(
        "queue",
        "router",
        "/v1/queues",
        "queues",
        {"tier": "L1", "strategy": "round_robin", **_lists("services", "categories", "products")}
        | _lists("priorities", "skills", "agents"),
    ),
    "escalation-policies": Kind(
        "escalation policy",
        "router",
        "/v1/escalation-policies",
        "escalation-policies",
        {**_lists("services", "priorities"), "ladder": [{"tier": "L1", "budget": "15m"}, {"tier": "L2"}]}
        | {"ack_timeout": None, "repeat": 0},
        durations={"ack_timeout": "ack_timeout_seconds"},
        adapt=_ladder,
    ),
    "sla-policies": Kind(
        "SLA policy",
        "sla-monitor",
        "/v1/sla/policies",
        "sla",
        {**_lists("priorities", "types", "services", "customers"), "response": "15m", "resolution": "4h"}
        | {"calendar": "24x7", "pause_on": ["awaiting_customer"], "warnings": [0.75, 0.9]},
        durations={"response": "response_seconds", "resolution": "resolution_seconds"},
    ),
    "calendars": Kind(
        "calendar",
        "sla-monitor",
        "/v1/sla/calendars",
        "sla",
        {"timezone": "UTC", "hours": None, "holidays": []},
        name_in_body=True,
        ranked=False,
    ),
}


def _kind(key: str) -> Kind:  # an unknown kind is a page that does not exist
    if key not in KINDS:
        raise HTTPException(404, f"The admin pages edit {', '.join(KINDS)}; not {key[:40]!r}.")
    return KINDS[key]


def _admin_only(request: Request, app: Console, session: Session) -> Response | None:
    """A 403 page for a key without ``admin`` (the services would refuse it too), else None."""
    if session.can("admin"):
        return None
    message = "Changing the services' configuration takes the admin scope; your key does not hold it."
    return app.render(
        request, "error.html", session=session, status=403, title="Forbidden", message=message, errors=[]
    )


def _form(
    request: Request, app: Console, session: Session, key: str, name: str | None, text: str, **shown: Any
) -> Response:
    """The Edit (``name``) or New form of a kind, its textarea holding ``text``."""
    kind = _kind(key)
    named = ("name",) if name is None or kind.name_in_body else ()
    action = f"/admin/edit/{key}/{quote(name, safe='')}" if name is not None else f"/admin/new/{key}"
    return app.render(
        request,
        "admin_edit.html",
        session=session,
        status=shown.get("status", 200),
        title=f"Edit {kind.label} {name}" if name is not None else f"New {kind.label}",
        kind=kind,
        section_label=SECTIONS[kind.section],
        action=action,
        fields=", ".join((*named, *kind.defaults)),
        placement=PLACEMENT_HINT if kind.ranked else None,
        text=text,
        message=shown.get("message"),
        errors=shown.get("errors", []),
    )


def _not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not a number JSON allows")


def parse_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object a textarea holds, or why it is not one in words (with the line and column)."""
    if len(text) > MAX_JSON:
        return None, f"The text is longer than {MAX_JSON:,} characters. Nothing was sent."
    try:
        parsed = json.loads(text, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        return None, f"Not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}. Nothing was sent."
    except ValueError as exc:
        return None, f"Not valid JSON: {exc}. Nothing was sent."
    except RecursionError:
        return None, "Not valid JSON: nested too deeply. Nothing was sent."
    if not isinstance(parsed, dict):
        return None, "The text must be one JSON object, { … }, of the fields. Nothing was sent."
    return parsed, None


def _path(request: Request, app: Console, session: Session, kind: Kind, name: str) -> str | Response:
    quoted = _name(name)
    if quoted is None:
        return not_valid(request, app, session, f"name: 1 to {MAX_NAME} printable characters")
    return f"{kind.collection}/{quoted}"


@router.get("/admin/edit/{key}/{name}")
async def edit_form(request: Request, key: str, name: str, app: ConsoleDep, session: SessionDep) -> Response:
    kind = _kind(key)
    path = _admin_only(request, app, session) or _path(request, app, session, kind, name)
    if isinstance(path, Response):
        return path
    found = await app.upstreams.get(kind.upstream, path, session.api_key)
    answer = kind.editable(found if isinstance(found, Mapping) else {})
    return _form(request, app, session, key, name, json.dumps(answer, indent=2, ensure_ascii=False))


@router.get("/admin/new/{key}")
async def new_form(request: Request, key: str, app: ConsoleDep, session: SessionDep) -> Response:
    kind = _kind(key)
    text = json.dumps({"name": "", **kind.defaults}, indent=2, ensure_ascii=False)
    return _admin_only(request, app, session) or _form(request, app, session, key, None, text)


@router.post("/admin/edit/{key}/{name}")
async def edit(
    request: Request, key: str, name: str, app: ConsoleDep, session: CheckedSessionDep
) -> Response:
    return await _save(request, app, session, key, name)


@router.post("/admin/new/{key}")
async def create(request: Request, key: str, app: ConsoleDep, session: CheckedSessionDep) -> Response:
    return await _save(request, app, session, key, None)


async def _save(request: Request, app: Console, session: Session, key: str, name: str | None) -> Response:
    """PUT (edit) or POST (new) the textarea's object with the person's key; then back to the list."""
    kind = _kind(key)
    path = _admin_only(request, app, session) or (
        _path(request, app, session, kind, name) if name is not None else kind.collection
    )
    if isinstance(path, Response):
        return path
    given = (await request.form()).get("body")
    text = given if isinstance(given, str) else ""
    body, problem = parse_object(text)
    if body is None:
        return _form(request, app, session, key, name, text, status=422, message=problem)
    method = "PUT" if name is not None else "POST"
    try:
        await app.upstreams.request(kind.upstream, method, path, session.api_key, json=body)
    except (UpstreamRefused, UpstreamUnavailable) as exc:  # in words, with the text as typed
        failed = exc.status >= 500  # UpstreamUnavailable's are 502 and 504
        words = f"Not saved: {exc.message}." if failed else f"{kind.upstream} refused it: {exc.message}"
        status = 502 if failed and isinstance(exc, UpstreamRefused) else exc.status
        return _form(request, app, session, key, name, text, status=status, message=words, errors=exc.errors)
    done = "saved" if name is not None else "created"
    return RedirectResponse(f"/admin/{kind.section}?done={done}", status_code=303)
