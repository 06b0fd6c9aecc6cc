"""`tierline keys`: intake's API keys (admin)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from rich.text import Text

from tierline_cli import render
from tierline_cli.app import App, json_option, pass_app
from tierline_cli.client import segment

KEY_COLUMNS: list[render.Column] = [
    ("id", "id"),
    ("name", "name"),
    ("scopes", "scopes"),
    ("created", lambda k: render.when(k.get("created_at"))),
    ("revoked", lambda k: render.when(k["revoked_at"]) if k.get("revoked_at") else None),
]


@click.group()
def keys() -> None:
    """API keys: issue, list, revoke (needs an admin key)."""


@keys.command()
@click.option("--name", required=True, help="Who or what uses the key, e.g. grafana.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="incidents:read, incidents:write or admin; repeatable.",
)
@json_option
@pass_app
def create(app: App, name: str, scopes: tuple[str, ...]) -> None:
    """Issue a key; it is printed once and stored only as a hash."""
    issued = app.api.call("POST", "intake", "/v1/api-keys", json={"name": name, "scopes": list(scopes)})

    def for_people(k: Mapping[str, Any]) -> None:
        render.show(
            render.record(KEY_COLUMNS[:3], k),
            Text("The key (shown only now; every service accepts it within moments):", style="bold"),
        )
        click.echo(k["key"])

    app.output(issued, for_people)


@keys.command("list")
@json_option
@pass_app
def list_keys(app: App) -> None:
    """Every key, revoked ones too (never the keys themselves)."""
    rows = app.api.call("GET", "intake", "/v1/api-keys")
    app.output(
        rows, lambda rs: render.show(render.table(KEY_COLUMNS, rs) if rs else render.empty("API keys"))
    )


@keys.command()
@click.argument("key_id")
@json_option
@pass_app
def revoke(app: App, key_id: str) -> None:
    """Revoke a key everywhere."""
    app.api.call("DELETE", "intake", f"/v1/api-keys/{segment(key_id)}")
    app.output({"id": key_id, "revoked": True}, lambda d: render.show(Text(f"revoked {d['id']}")))
