"""The incident page's view model: which actions show, the forms' checks, SLA clocks, vendor cases.

Pure functions over intake's incident (``GET /v1/incidents/{id}``) and the vendor gateway's cases
and deliveries: no I/O, so the unit tests pin what the page offers. An action shows only when the
incident's status allows it and the key holds ``incidents:write``; the routes check the scope again
(a forged POST is refused before any upstream is called) and the owning service has the last word.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tierline_console.board_view import PRIORITIES, Countdown, countdown, format_time

WRITE_SCOPE = "incidents:write"
OPEN = frozenset({"open", "acknowledged", "on_hold"})
HOLD_REASONS = {
    "awaiting_customer": "Awaiting the customer",
    "awaiting_vendor": "Awaiting the vendor",
    "awaiting_change": "Awaiting a change",
}
TIERS = ("L1", "L2", "L3", "L4")
LOWER_TIERS = {"L2": ("L1",), "L3": ("L1", "L2"), "L4": ("L1", "L2", "L3")}
MAX_BY = 320  # intake's longest actor name


@dataclass(frozen=True)
class Action:
    """One action: its URL segment, its button's verb, the service that owns it, and when it shows."""

    name: str
    verb: str
    upstream: str
    done: str  # the notice after it succeeded

    def shows_for(self, incident: Mapping[str, Any]) -> bool:
        status, tier = incident.get("status"), incident.get("tier")
        match self.name:
            case "acknowledge":
                return status == "open"
            case "hold":
                return status in ("open", "acknowledged")
            case "resume":
                return status == "on_hold"
            case "resolve":
                return status in OPEN
            case "reopen" | "close":
                return status == "resolved"
            case "note":
                return True
            case "escalate":
                return status in OPEN and tier in ("L1", "L2", "L3")
            case "de-escalate":
                return status in OPEN and tier in LOWER_TIERS
            case "priority":
                return status in OPEN
        return False


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("acknowledge", "Acknowledge", "intake", "Acknowledged."),
        Action("hold", "Hold", "intake", "Put on hold."),
        Action("resume", "Resume", "intake", "Resumed."),
        Action("resolve", "Resolve", "intake", "Resolved."),
        Action("reopen", "Reopen", "intake", "Reopened."),
        Action("close", "Close", "intake", "Closed."),
        Action("note", "Add note", "intake", "Note added."),
        Action(
            "escalate", "Escalate", "router", "Escalated; the page shows the new tier as the router moves it."
        ),
        Action(
            "de-escalate",
            "De-escalate",
            "router",
            "De-escalated; the page shows the new tier as the router moves it.",
        ),
        Action("priority", "Change priority", "intake", "Priority changed."),
    )
}


def available_actions(incident: Mapping[str, Any], scopes: Iterable[str]) -> list[str]:
    """The actions to offer: none without ``incidents:write`` (or admin), else what the status allows."""
    held = set(scopes)
    if WRITE_SCOPE not in held and "admin" not in held:
        return []
    return [name for name, action in ACTIONS.items() if action.shows_for(incident)]


@dataclass
class FormCheck:
    """An action form's fields checked: the upstream body, or what is wrong with them by field."""

    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _text(
    form: Mapping[str, str], check: FormCheck, name: str, *, limit: int, required: bool = False, to: str = ""
) -> None:
    value = form.get(name, "").strip()
    if not value:
        if required:
            check.errors[name] = "required"
        return
    if len(value) > limit:
        check.errors[name] = f"at most {limit} characters"
    elif "\x00" in value:
        check.errors[name] = "must not contain NUL characters"
    else:
        check.body[to or name] = value


def _choice(form: Mapping[str, str], check: FormCheck, name: str, allowed: Sequence[str]) -> None:
    value = form.get(name, "").strip()
    if value not in allowed:
        check.errors[name] = f"choose one of {', '.join(allowed)}"
    else:
        check.body[name] = value


def _from_tier(form: Mapping[str, str], check: FormCheck) -> None:
    """The tier the page showed: the router moves the incident only from there (a second click, or
    someone faster, gets a 409 instead of a second move)."""
    if form.get("from_tier", "").strip():
        _choice(form, check, "from_tier", TIERS)


def check_form(action: str, form: Mapping[str, str], actor: str) -> FormCheck:
    """The body of ``action``'s upstream call from its form, or the form's errors by field."""
    check = FormCheck()
    by = actor[:MAX_BY]
    match action:
        case "hold":
            _choice(form, check, "reason", tuple(HOLD_REASONS))
            _text(form, check, "note", limit=5000)
            check.body["by"] = by
        case "resolve":
            _text(form, check, "resolution_code", limit=80)
            _text(form, check, "note", limit=20_000)
            _text(form, check, "knowledge_article", limit=500)
            check.body["by"] = by
        case "reopen":
            _text(form, check, "reason", limit=5000)
            check.body["by"] = by
        case "note":
            _text(form, check, "text", limit=20_000, required=True)
            check.body["author"] = by
        case "escalate":
            _text(form, check, "note", limit=2000, required=True)
            _from_tier(form, check)
        case "de-escalate":
            _text(form, check, "note", limit=2000, required=True)
            if form.get("to_tier", "").strip():
                _choice(form, check, "to_tier", ("L1", "L2", "L3"))
            _from_tier(form, check)
        case "priority":
            _choice(form, check, "priority", PRIORITIES)
            check.body["by"] = by
        case _:  # acknowledge, resume, close: nothing to fill in
            check.body["by"] = by
    return check


def upstream_call(action: str, incident_id: str) -> tuple[str, str, str]:
    """(service, method, path) of ``action`` on the owning service's API."""
    base = f"/v1/incidents/{incident_id}"
    calls = {
        "note": ("intake", "POST", f"{base}/notes"),
        "priority": ("intake", "PATCH", base),
        "escalate": ("router", "POST", f"{base}/escalate"),
        "de-escalate": ("router", "POST", f"{base}/de-escalate"),
    }
    return calls.get(action, ("intake", "POST", f"{base}/{action}"))


def errors_by_field(errors: Iterable[str], fields: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """An upstream's "field: reason" errors split into those of the form's fields and the rest."""
    known = set(fields)
    by_field: dict[str, str] = {}
    rest: list[str] = []
    for error in errors:
        name, sep, reason = error.partition(": ")
        if sep and name in known:
            by_field[name] = reason
        else:
            rest.append(error)
    return by_field, rest


# --- what the page shows

# Every field the templates read, so an answer without one (an older intake) shows a gap, not a 500.
INCIDENT_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(
        (
            "title",
            "description",
            "service",
            "category",
            "product",
            "customer",
            "impact",
            "urgency",
            "priority",
            "type",
            "channel",
            "reporter",
            "status",
            "hold_reason",
            "tier",
            "queue",
            "assignee",
            "vendor",
            "vendor_reference",
            "created_at",
            "acknowledged_at",
            "resolved_at",
            "closed_at",
            "resolution_code",
            "knowledge_article_used",
            "problem",
            "occurrences",
            "reopen_count",
        ),
    ),
    "knowledge": [],
    "sla": {},
    "timeline": [],
}


def with_defaults(incident: Mapping[str, Any]) -> dict[str, Any]:
    """Intake's incident with every field the page reads (None or empty where it gave none)."""
    filled = {**INCIDENT_DEFAULTS, **incident}
    filled["title"] = filled["title"] or "Untitled incident"
    return filled


def time_text(value: Any) -> str:
    """A time as ``02 Mar 2026 09:00 UTC``, converted to UTC ("" if none, "—" if unreadable)."""
    return format_time(value)


CLOCK_NAMES = {
    "response": "Response",
    "resolution": "Resolution",
    "tier": "Tier budget",
    "vendor_response": "Vendor response",
    "vendor_resolution": "Vendor resolution",
}


@dataclass(frozen=True)
class ClockRow:
    """One SLA clock of the incident: a countdown while it runs, is paused or breached; else its end."""

    kind: str
    name: str
    state: str
    countdown: Countdown | None
    ended: str  # "met 02 Mar 2026 09:30 UTC", "cancelled" (when there is no countdown)


def clocks(sla: Mapping[str, Mapping[str, Any]] | None, now: datetime) -> list[ClockRow]:
    """The incident's clocks (intake's ``sla``) in a fixed order, each as the boards count down."""
    order = list(CLOCK_NAMES)
    found: list[ClockRow] = []
    known = {
        str(k): c for k, c in (sla.items() if isinstance(sla, Mapping) else ()) if isinstance(c, Mapping)
    }
    for kind in sorted(known, key=lambda k: (order.index(k) if k in order else len(order), k)):
        clock = known[kind]
        state = str(clock.get("state") or "")
        name = CLOCK_NAMES.get(kind, kind.replace("_", " ").capitalize())
        if kind == "tier" and clock.get("tier"):
            name = f"{name} ({clock['tier']})"
        if state in ("running", "paused", "breached"):
            summary = {**clock, "clock": kind, "paused": state == "paused", "breached": state == "breached"}
            found.append(ClockRow(kind, name, state, countdown(summary, now), ""))
        elif state == "met":
            found.append(ClockRow(kind, name, state, None, f"met {time_text(clock.get('met_at'))}".strip()))
        else:
            found.append(ClockRow(kind, name, state, None, state or "unknown"))
    return found


@dataclass(frozen=True)
class VendorCase:
    case: Mapping[str, Any]
    deliveries: list[Mapping[str, Any]]


def vendor_cases(
    cases: Sequence[Mapping[str, Any]], deliveries: Sequence[Mapping[str, Any]]
) -> list[VendorCase]:
    """Each case with its deliveries (those whose ``case_id`` is the case's), oldest first."""
    by_case: dict[str, list[Mapping[str, Any]]] = {}
    for delivery in deliveries:
        by_case.setdefault(str(delivery.get("case_id")), []).append(delivery)
    return [
        VendorCase(c, sorted(by_case.get(str(c.get("id")), []), key=lambda d: str(d.get("created_at") or "")))
        for c in cases
    ]


def timeline(items: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The timeline newest first, each entry's time as text (the template escapes every field)."""
    entries = [e for e in items if isinstance(e, Mapping)]
    ordered = sorted(entries, key=lambda e: str(e.get("at") or ""), reverse=True)
    return [
        {
            "at": str(e.get("at") or ""),
            "when": time_text(e.get("at")),
            "kind": str(e.get("kind") or "").replace("_", " "),
            "summary": str(e.get("summary") or ""),
            "source": str(e.get("source") or ""),
        }
        for e in ordered
    ]
