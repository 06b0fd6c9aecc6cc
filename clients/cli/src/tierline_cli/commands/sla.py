"""`tierline sla`: the SLA monitor's view of an incident."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import click
from rich.console import RenderableType

from tierline_cli import render
from tierline_cli.app import App, json_option, pass_app


def clocks_table(clocks: list[Mapping[str, Any]], now: datetime) -> RenderableType:
    if not clocks:
        return render.empty("SLA clocks for this incident (yet)")
    return render.table(
        [
            (
                "clock",
                lambda c: (
                    f"{c['kind']} ({c.get('tier') or c.get('vendor')})"
                    if c.get("tier") or c.get("vendor")
                    else c["kind"]
                ),
            ),
            ("state", "state"),
            ("target", lambda c: render.duration(c.get("target_seconds"))),
            ("used", lambda c: render.duration(c.get("elapsed_seconds"))),
            ("left", lambda c: render.duration(c.get("remaining_seconds"))),
            ("due", lambda c: render.when(c.get("due_at"))),
            ("", lambda c: render.relative(c.get("due_at"), now) if c.get("state") == "running" else None),
            ("policy", "policy"),
            ("calendar", "calendar"),
        ],
        clocks,
    )


@click.group()
def sla() -> None:
    """SLA clocks (the SLA monitor)."""


@sla.command()
@click.argument("incident_id")
@json_option
@pass_app
def clocks(app: App, incident_id: str) -> None:
    """Every clock of an incident: targets in business time, time used and left, due times."""
    rows = app.api.call("GET", "sla-monitor", "/v1/sla/clocks", params={"incident_id": incident_id})
    app.output(rows, lambda rs: render.show(clocks_table(rs, app.clock())))
