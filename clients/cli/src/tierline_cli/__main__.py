"""`tierline`: the command line for people (tables) and scripts (--json)."""

from __future__ import annotations

import sys

import click

from tierline_cli import __version__
from tierline_cli.app import App
from tierline_cli.commands.incidents import incidents
from tierline_cli.commands.keys import keys
from tierline_cli.commands.routing import agents, queues
from tierline_cli.commands.sla import sla
from tierline_cli.commands.vendors import vendors

EPILOG = """\b
Finding the system: TIERLINE_URL (intake, e.g. http://127.0.0.1:8001; the other services
on the same host at 8002-8004, or TIERLINE_ROUTER_URL, TIERLINE_SLA_URL, TIERLINE_GATEWAY_URL)
and TIERLINE_KEY. Unset, a local `make run` is used, with the key it keeps in .run/dev-api-key
(found from the current directory up, or in TIERLINE_RUN_DIR)."""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answers instead of tables.")
@click.version_option(__version__, prog_name="tierline")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """Work Tierline incidents, queues, agents, vendors and API keys from a shell."""
    if ctx.obj is None:
        ctx.obj = App()
    ctx.obj.is_json = ctx.obj.is_json or as_json
    ctx.call_on_close(ctx.obj.close)


for group in (incidents, queues, agents, vendors, keys, sla):
    cli.add_command(group)


def main() -> int:
    return cli.main(prog_name="tierline")


if __name__ == "__main__":
    sys.exit(main())
