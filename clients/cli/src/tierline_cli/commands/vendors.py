"""`tierline vendors`: the gateway's vendor registry, and signing tools for vendors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

import click
from rich.text import Text

from tierline_cli import render, signing
from tierline_cli.app import App, json_option, pass_app
from tierline_cli.client import CliError, segment

ACTIONS = ("acknowledged", "updated", "resolved", "rejected")


def _contract(vendor: Mapping[str, Any]) -> str | None:
    contract = vendor.get("contract")
    if not contract:
        return None
    return (
        f"response {render.duration(contract.get('response_seconds'))}, "
        f"resolution {render.duration(contract.get('resolution_seconds'))}"
    )


def _fingerprints(name: str):
    return lambda v: [s["fingerprint"] for s in v.get(name) or []]


VENDOR_COLUMNS: list[render.Column] = [
    ("name", "name"),
    ("enabled", lambda v: v["enabled"] if v.get("enabled") else f"no ({v.get('disabled_reason') or '-'})"),
    ("webhook", "webhook_url"),
    ("categories", "categories"),
    ("products", "products"),
    ("contract", _contract),
]
VENDOR_FIELDS: list[render.Column] = [
    *VENDOR_COLUMNS,
    ("signing secrets", _fingerprints("secrets")),
    ("callback secrets", _fingerprints("callback_secrets")),
    ("timeout", lambda v: render.duration(v["timeout_seconds"]) if v.get("timeout_seconds") else "default"),
    ("schedule", lambda v: [render.duration(s) for s in v.get("schedule_seconds") or []] or "default"),
    ("managed by", "managed_by"),
    ("updated", lambda v: render.when(v.get("updated_at"))),
]


@click.group()
def vendors() -> None:
    """L4 vendors (the gateway), their secrets and signed test callbacks."""


@vendors.command("list")
@json_option
@pass_app
def list_vendors(app: App) -> None:
    """Every vendor with its endpoint state (secrets only as fingerprints)."""
    rows = app.api.call("GET", "vendor-gateway", "/v1/vendors")
    app.output(
        rows, lambda rs: render.show(render.table(VENDOR_COLUMNS, rs) if rs else render.empty("vendors"))
    )


@vendors.command("show")
@click.argument("name")
@json_option
@pass_app
def show_vendor(app: App, name: str) -> None:
    """One vendor."""
    vendor = app.api.call("GET", "vendor-gateway", f"/v1/vendors/{segment(name)}")
    app.output(vendor, lambda v: render.show(render.record(VENDOR_FIELDS, v)))


@vendors.command()
@json_option
@pass_app
def secret(app: App) -> None:
    """Make a new Standard Webhooks signing secret (whsec_...) for a vendor's secrets or callback_secrets."""
    value = signing.new_secret()
    app.output({"secret": value}, lambda d: click.echo(d["secret"]))


@vendors.command("sign-callback")
@click.argument("vendor")
@click.option(
    "--secret",
    "secret_",
    envvar="TIERLINE_CALLBACK_SECRET",
    required=True,
    help="The vendor's callback secret (whsec_...); or TIERLINE_CALLBACK_SECRET.",
)
@click.option("--case", "case_id", help="The case_id of the handoff.")
@click.option("--action", type=click.Choice(ACTIONS), help="What the vendor reports.")
@click.option("--reference", help="The vendor's own ticket id.")
@click.option("--status", help="The vendor's status, with --action updated.")
@click.option("--note")
@click.option("--resolution", help="What fixed it, with --action resolved.")
@click.option(
    "--body", "body_file", type=click.File("rb"), help="Sign this file's bytes as they are (- for stdin)."
)
@click.option(
    "--id", "msg_id", help="The webhook-id [default: a new msg_...]; a repeated id is ignored once seen."
)
@click.option(
    "--url", help="The callback_url to print [default: the gateway's /v1/vendors/VENDOR/callbacks]."
)
@click.option(
    "--send", is_flag=True, help="Post it to the gateway (TIERLINE_GATEWAY_URL) and print the answer."
)
@json_option
@pass_app
def sign_callback(
    app: App,
    /,
    vendor: str,
    secret_: str,
    body_file: IO[bytes] | None,
    msg_id: str | None,
    url: str | None,
    send: bool,
    **fields: Any,
) -> None:
    """Sign a callback as VENDOR would: print its headers and body (or a curl line), or --send it."""
    if send and url:
        raise CliError("--send posts to the gateway itself; drop --url (or set TIERLINE_GATEWAY_URL)")
    body = _body(body_file, fields)
    try:
        headers = signing.signed_headers(
            secret_, body, msg_id=msg_id or signing.message_id(), timestamp=app.clock()
        )
    except signing.BadSecret as exc:
        raise CliError(f"--secret: {exc}") from None
    except UnicodeDecodeError:
        raise CliError("--body: a callback body is UTF-8 JSON") from None
    path = f"/v1/vendors/{segment(vendor)}/callbacks"
    target = url or app.api.url("vendor-gateway", path)
    if send:
        answer = app.api.call("POST", "vendor-gateway", path, content=body, headers=headers)
        app.output(answer, lambda a: render.show(Text(f"{vendor}'s callback: {a.get('status')}")))
        return
    signed = {"url": target, "headers": headers, "body": body.decode("utf-8")}
    # Plain echo, not rich: a wrapped line would break the signature or the curl command when copied.
    app.output(
        signed,
        lambda _: click.echo(
            f"{signing.as_http(target, headers, body)}\n\nas curl:\n{signing.as_curl(target, headers, body)}"
        ),
    )


def _body(body_file: IO[bytes] | None, fields: dict[str, Any]) -> bytes:
    if body_file is not None:
        return body_file.read()
    if not fields["case_id"] or not fields["action"]:
        raise CliError("give --case and --action (or --body FILE)")
    return signing.callback_body(**fields)
