"""`tierline incidents`: intake's incident API, and the router's escalate."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import click
from rich.console import RenderableType
from rich.text import Text

from tierline_cli import render
from tierline_cli.app import App, json_option, pass_app
from tierline_cli.client import segment


def summary_columns(now: datetime) -> list[render.Column]:
    return [
        ("id", "id"),
        ("pri", "priority"),
        ("status", "status"),
        ("tier", "tier"),
        ("held by", lambda r: r.get("assignee") or r.get("vendor")),
        ("service", "service"),
        ("created", lambda r: render.relative(r.get("created_at"), now)),
        ("title", "title"),
    ]


DETAIL_FIELDS: list[render.Column] = [
    ("id", "id"),
    ("title", "title"),
    ("status", lambda r: f"{r['status']} ({r['hold_reason']})" if r.get("hold_reason") else r.get("status")),
    ("priority", lambda r: f"{r.get('priority')} ({r.get('priority_source')})"),
    ("impact / urgency", lambda r: f"{r['impact']} / {r['urgency']}" if r.get("impact") else None),
    ("service", "service"),
    ("category", "category"),
    ("product", "product"),
    ("customer", "customer"),
    ("tier", "tier"),
    ("queue", "queue"),
    ("assignee", "assignee"),
    ("vendor", lambda r: _vendor(r)),  # defined below
    ("reporter", lambda r: f"{r.get('reporter')} via {r.get('channel')}"),
    ("occurrences", "occurrences"),
    ("created", lambda r: render.when(r.get("created_at"))),
    ("acknowledged", lambda r: render.when(r.get("acknowledged_at")) if r.get("acknowledged_at") else None),
    ("resolved", lambda r: _resolved(r)),
    ("description", "description"),
]


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name: a container's numeric user, say
        return "tierline-cli"


def _vendor(incident: Mapping[str, Any]) -> str | None:
    vendor, reference = incident.get("vendor"), incident.get("vendor_reference")
    return f"{vendor} ({reference})" if vendor and reference else vendor


def _resolved(incident: Mapping[str, Any]) -> str | None:
    if not incident.get("resolved_at"):
        return None
    code = incident.get("resolution_code")
    return render.when(incident["resolved_at"]) + (f" ({code})" if code else "")


def sla_table(sla: Mapping[str, Mapping[str, Any]], now: datetime) -> RenderableType:
    """The incident's SLA view: one line per clock, with how far its due time is."""
    if not sla:
        return render.empty("SLA clocks yet")
    rows = [{"kind": kind, **clock} for kind, clock in sla.items()]
    return render.table(
        [
            ("clock", lambda c: f"{c['kind']} ({c['tier']})" if c.get("tier") else c["kind"]),
            ("state", _state),
            ("due", lambda c: render.when(c.get("due_at"))),
            ("", lambda c: _due_note(c, now)),
        ],
        rows,
        title="SLA",
    )


def _state(clock: Mapping[str, Any]) -> str:
    state = clock.get("state", "?")
    return f"{state} (breached)" if clock.get("breached") and state != "breached" else state


def _due_note(clock: Mapping[str, Any], now: datetime) -> str | None:
    if clock.get("state") == "paused":
        return f"paused, {render.duration(clock.get('remaining_seconds'))} left"
    if clock.get("state") == "running":
        return render.relative(clock.get("due_at"), now)
    if clock.get("met_at"):
        return f"met {render.when(clock['met_at'])}"
    if clock.get("breached_at"):
        return f"breached {render.when(clock['breached_at'])}"
    return None


def timeline_table(entries: list[Mapping[str, Any]]) -> RenderableType:
    if not entries:
        return render.empty("timeline entries")
    return render.table(
        [
            ("at", lambda e: render.when(e.get("at"))),
            ("what", "kind"),
            ("summary", "summary"),
            ("by", "source"),
        ],
        entries,
        title="Timeline",
    )


def incident_view(incident: Mapping[str, Any], now: datetime) -> list[RenderableType]:
    return [
        render.record(DETAIL_FIELDS, incident),
        sla_table(incident.get("sla") or {}, now),
        timeline_table(incident.get("timeline") or []),
    ]


def _done(verb: str) -> Callable[[Mapping[str, Any]], None]:
    def for_people(incident: Mapping[str, Any]) -> None:
        render.show(
            Text(
                f"{verb} {incident['id']}: {incident['priority']} {incident['status']}"
                f" ({incident.get('tier') or 'no tier yet'}, {incident.get('assignee') or 'unassigned'})"
            )
        )

    return for_people


@click.group()
def incidents() -> None:
    """Create, find and work incidents (intake; escalate goes to the router)."""


@incidents.command()
@click.option("--title", required=True)
@click.option("--service", required=True, help="e.g. vpn")
@click.option("--category", required=True, help="e.g. network")
@click.option("--description", default="", help="What happened.")
@click.option("--impact", help="high, medium or low [default: medium unless --priority]")
@click.option("--urgency", help="high, medium or low [default: medium unless --priority]")
@click.option("--priority", help="P1..P4, instead of deriving it from impact x urgency")
@click.option("--channel", default="api", show_default=True, help="web, email, chat, phone, monitoring, api")
@click.option("--reporter", default=lambda: _whoami(), show_default="your user name")
@click.option("--product", help="The product within the service.")
@click.option("--customer", help="The customer affected (SLA policies may name customers).")
@click.option("--dedup-key", help="An open incident with this key counts an occurrence instead.")
@json_option
@pass_app
def create(app: App, /, **options: Any) -> None:
    """Open an incident; its priority comes from impact x urgency unless --priority is given."""
    if options["priority"] is None:
        options["impact"] = options["impact"] or "medium"
        options["urgency"] = options["urgency"] or "medium"
    body = {k: v for k, v in options.items() if v is not None}
    response = app.api.request("POST", "intake", "/v1/incidents", json=body)
    verb = "created" if response.status_code == 201 else "counted an occurrence of"
    app.output(response.json(), _done(verb))


@incidents.command("list")
@click.option("--status", multiple=True, help="open, acknowledged, on_hold, resolved, closed; repeatable")
@click.option("--priority", multiple=True, help="P1..P4; repeatable")
@click.option("--tier", multiple=True, help="L1..L4; repeatable")
@click.option("--service")
@click.option("--category")
@click.option(
    "--since", "created_since", help="Created at or after (ISO 8601 with a zone, e.g. 2026-11-23T09:00Z)"
)
@click.option("--limit", type=int, default=50, show_default=True, help="At most 200.")
@click.option("--cursor", help="The next-page cursor a previous list printed.")
@json_option
@pass_app
def list_(app: App, /, **options: Any) -> None:
    """Incidents, newest first, a page at a time."""
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items() if v not in (None, ())}
    page = app.api.call("GET", "intake", "/v1/incidents", params=params)

    def for_people(page: Mapping[str, Any]) -> None:
        items = page.get("items") or []
        rows = (
            render.table(summary_columns(app.clock()), items, one_line=True)
            if items
            else render.empty("incidents")
        )
        render.show(rows)
        if page.get("next_cursor"):
            render.show(Text(f"more: add --cursor {page['next_cursor']}", style="dim"))

    app.output(page, for_people)


@incidents.command()
@click.argument("incident_id")
@json_option
@pass_app
def show(app: App, incident_id: str) -> None:
    """One incident with its SLA clocks and timeline."""
    incident = app.api.call("GET", "intake", f"/v1/incidents/{segment(incident_id)}")
    app.output(incident, lambda i: render.show(*incident_view(i, app.clock())))


def _action(app: App, incident_id: str, action: str, body: dict[str, Any], verb: str) -> None:
    payload = {k: v for k, v in body.items() if v is not None}
    incident = app.api.call("POST", "intake", f"/v1/incidents/{segment(incident_id)}/{action}", json=payload)
    app.output(incident, _done(verb))


@incidents.command()
@click.argument("incident_id")
@click.option("--by", help="Who is on it.")
@json_option
@pass_app
def ack(app: App, incident_id: str, by: str | None) -> None:
    """Acknowledge: someone is on it (stops the response clock)."""
    _action(app, incident_id, "acknowledge", {"by": by}, "acknowledged")


@incidents.command()
@click.argument("incident_id")
@click.option("--code", "resolution_code", help="Resolution code, e.g. fixed.")
@click.option("--note", help="What was done.")
@click.option("--kb", "knowledge_article", help="The knowledge-base article that solved it.")
@click.option("--by", help="Who resolved it.")
@json_option
@pass_app
def resolve(app: App, /, incident_id: str, **body: Any) -> None:
    """Resolve the incident."""
    _action(app, incident_id, "resolve", body, "resolved")


@incidents.command()
@click.argument("incident_id")
@click.argument("text")
@click.option("--author")
@json_option
@pass_app
def note(app: App, incident_id: str, text: str, author: str | None) -> None:
    """Add a note to the incident's timeline."""
    _action(app, incident_id, "notes", {"text": text, "author": author}, "noted on")


@incidents.command()
@click.argument("incident_id")
@click.option("--note", help="Why, in your words.")
@json_option
@pass_app
def escalate(app: App, incident_id: str, note: str | None) -> None:
    """Move the incident one rung up its ladder (the router; past the top, up to L4)."""
    body = {"note": note} if note else None
    assignment = app.api.call("POST", "router", f"/v1/incidents/{segment(incident_id)}/escalate", json=body)

    def for_people(a: Mapping[str, Any]) -> None:
        holder = (
            a.get("assignee") or a.get("vendor") or ("waiting" if a.get("waiting_since") else "unassigned")
        )
        render.show(
            Text(f"escalated {a['incident_id']}: now {a['tier']} ({a.get('queue') or '-'}, {holder})")
        )

    app.output(assignment, for_people)


@incidents.command("de-escalate")
@click.argument("incident_id")
@click.option("--note", required=True, help="Why it goes back down (required).")
@click.option("--to-tier", help="L1..L3 [default: the rung below]")
@json_option
@pass_app
def de_escalate(app: App, incident_id: str, note: str, to_tier: str | None) -> None:
    """Hand the incident back down its ladder (the router)."""
    body = {"note": note, "to_tier": to_tier} if to_tier else {"note": note}
    path = f"/v1/incidents/{segment(incident_id)}/de-escalate"
    assignment = app.api.call("POST", "router", path, json=body)
    app.output(assignment, lambda a: render.show(Text(f"de-escalated {a['incident_id']}: now {a['tier']}")))


@incidents.command()
@click.argument("incident_id")
@click.option(
    "--reason",
    required=True,
    type=click.Choice(["awaiting_customer", "awaiting_vendor", "awaiting_change"]),
    help="What it waits for (an SLA policy's pause_on reasons pause its clocks).",
)
@click.option("--note")
@click.option("--by")
@json_option
@pass_app
def hold(app: App, /, incident_id: str, **body: Any) -> None:
    """Put the incident on hold."""
    _action(app, incident_id, "hold", body, "put on hold")


@incidents.command()
@click.argument("incident_id")
@click.option("--by")
@json_option
@pass_app
def resume(app: App, incident_id: str, by: str | None) -> None:
    """Take the incident off hold."""
    _action(app, incident_id, "resume", {"by": by}, "resumed")


@incidents.command()
@click.argument("incident_id")
@click.option("--reason", help="Why it is back.")
@click.option("--by")
@json_option
@pass_app
def reopen(app: App, /, incident_id: str, **body: Any) -> None:
    """Reopen a resolved incident (within the reopen window)."""
    _action(app, incident_id, "reopen", body, "reopened")


@incidents.command()
@click.argument("incident_id")
@click.option("--by")
@json_option
@pass_app
def close(app: App, incident_id: str, by: str | None) -> None:
    """Close a resolved incident for good."""
    _action(app, incident_id, "close", {"by": by}, "closed")
