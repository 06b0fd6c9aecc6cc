"""``python -m tierline_intake api-key create|list|revoke``: manage API keys without the HTTP API.

Writes go through the same use cases (and outbox) as the admin endpoints, so the
running services learn about the key from its event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import uuid

from tierline_intake.bootstrap import admin_deps
from tierline_intake.config import Settings
from tierline_intake.entrypoints.admin_schemas import AGENT_NAME
from tierline_intake.service_layer import access
from tierline_shared import db
from tierline_shared.auth import SCOPES
from tierline_shared.cli import AdminCommand
from tierline_shared.clock import SystemClock
from tierline_shared.settings import ServiceSettings


def _person(value: str) -> str:
    if not (len(value) <= 100 and re.fullmatch(AGENT_NAME, value)):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an agent name (letters, digits, . _ -; up to 100)"
        )
    return value


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="issue a key (printed once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", choices=SCOPES, required=True, help="repeat for several")
    create.add_argument("--person", type=_person, help="the router's agent name the key's holder works as")
    sub.add_parser("list", help="list keys (never the keys themselves)")
    revoke = sub.add_parser("revoke", help="revoke a key everywhere")
    revoke.add_argument("key_id", type=uuid.UUID)


async def _run(args: argparse.Namespace, settings: Settings) -> dict | list:
    engine = db.create_engine(settings.database_url, pool_size=1)
    sessions = db.session_factory(engine)

    deps = admin_deps(SystemClock())
    try:
        async with sessions() as session, session.begin():
            uow = deps.unit_of_work(session)
            if args.action == "create":
                issued = await access.issue_key(
                    uow, deps, name=args.name, scopes=sorted(set(args.scope)), person=args.person
                )
                return {
                    "id": str(issued.id),
                    "name": issued.name,
                    "scopes": issued.scopes,
                    "person": issued.person,
                    "key": issued.key,
                }
            if args.action == "revoke":
                await access.revoke_key(uow, deps, args.key_id)
                return {"id": str(args.key_id), "revoked": True}
            rows = await access.list_keys(uow)
            return [
                {
                    "id": str(r.id),
                    "name": r.name,
                    "scopes": r.scopes,
                    "person": r.person,
                    "revoked": r.revoked_at is not None,
                }
                for r in rows
            ]
    finally:
        await engine.dispose()


def handle(args: argparse.Namespace, settings: ServiceSettings) -> int:
    assert isinstance(settings, Settings)
    print(json.dumps(asyncio.run(_run(args, settings)), indent=2))
    return 0


API_KEY = AdminCommand(
    name="api-key",
    help="create, list or revoke API keys against intake's database (prints JSON)",
    configure=configure,
    handle=handle,
)
