"""`tierline queues` and `tierline agents`: the router's queues and people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from rich.text import Text

from tierline_cli import render
from tierline_cli.app import App, json_option, pass_app
from tierline_cli.client import segment


def _filters(queue: Mapping[str, Any]) -> str | None:
    parts = [
        f"{name}={','.join(queue[name])}"
        for name in ("services", "categories", "products", "priorities", "skills")
        if queue.get(name)
    ]
    return " ".join(parts) or None


QUEUE_COLUMNS: list[render.Column] = [
    ("name", "name"),
    ("tier", "tier"),
    ("strategy", "strategy"),
    ("agents", "agents"),
    ("held", "held"),
    ("waiting", "waiting"),
    ("filters", _filters),
]
QUEUE_FIELDS: list[render.Column] = [
    *QUEUE_COLUMNS,
    ("rank", "rank"),
    ("managed by", "managed_by"),
    ("updated", lambda q: render.when(q.get("updated_at"))),
]
AGENT_COLUMNS: list[render.Column] = [
    ("name", "name"),
    ("on shift", "available"),
    ("open", lambda a: f"{a.get('open_incidents')}/{a.get('capacity')}"),
    ("skills", "skills"),
    ("queues", "queues"),
]


@click.group()
def queues() -> None:
    """The router's queues, with what they hold and what waits."""


@queues.command("list")
@json_option
@pass_app
def list_queues(app: App) -> None:
    """Every queue, by tier."""
    rows = app.api.call("GET", "router", "/v1/queues")
    app.output(
        rows, lambda rs: render.show(render.table(QUEUE_COLUMNS, rs) if rs else render.empty("queues"))
    )


@queues.command("show")
@click.argument("name")
@json_option
@pass_app
def show_queue(app: App, name: str) -> None:
    """One queue."""
    queue = app.api.call("GET", "router", f"/v1/queues/{segment(name)}")
    app.output(queue, lambda q: render.show(render.record(QUEUE_FIELDS, q)))


@click.group()
def agents() -> None:
    """The router's agents: load, skills, on shift or away."""


@agents.command("list")
@json_option
@pass_app
def list_agents(app: App) -> None:
    """Every agent, with their load."""
    rows = app.api.call("GET", "router", "/v1/agents")
    app.output(
        rows, lambda rs: render.show(render.table(AGENT_COLUMNS, rs) if rs else render.empty("agents"))
    )


@agents.command("show")
@click.argument("name")
@json_option
@pass_app
def show_agent(app: App, name: str) -> None:
    """One agent."""
    agent = app.api.call("GET", "router", f"/v1/agents/{segment(name)}")
    app.output(agent, lambda a: render.show(render.record(AGENT_COLUMNS, a)))


def _set_availability(app: App, name: str, *, available: bool) -> None:
    agent = app.api.call(
        "PUT", "router", f"/v1/agents/{segment(name)}/availability", json={"available": available}
    )

    def for_people(a: Mapping[str, Any]) -> None:
        state = "on shift" if a["available"] else "away (their open incidents go to others, or wait)"
        render.show(Text(f"{a['name']} is {state}"))

    app.output(agent, for_people)


@agents.command()
@click.argument("name")
@json_option
@pass_app
def away(app: App, name: str) -> None:
    """Sign an agent off: their open incidents go to others in the queue, or wait."""
    _set_availability(app, name, available=False)


@agents.command()
@click.argument("name")
@json_option
@pass_app
def back(app: App, name: str) -> None:
    """Put an agent back on shift."""
    _set_availability(app, name, available=True)
