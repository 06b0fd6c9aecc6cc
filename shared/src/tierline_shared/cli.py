"""The command line every service has: ``serve``, ``migrate`` and the service's own admin commands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tierline_shared import migrations
from tierline_shared.logging import configure_logging, get_logger
from tierline_shared.settings import ServiceSettings

RUN_POSTGRES_PORT = 55432  # the launcher's default for `make run` (TIERLINE_RUN_POSTGRES_PORT)
RUN_POSTGRES_USER = "tierline"


@dataclass(frozen=True)
class AdminCommand:
    """A service's own subcommand (intake's ``api-key``), listed in --help beside serve and migrate."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handle: Callable[[argparse.Namespace, ServiceSettings], int]


def migrations_dir(package_file: str) -> Path:
    """services/<svc>/migrations for a source checkout; TIERLINE_MIGRATIONS_DIR in images."""
    override = os.environ.get("TIERLINE_MIGRATIONS_DIR")
    if override:
        return Path(override)
    return Path(package_file).resolve().parents[2] / "migrations"


def find_run_dir(environ: Mapping[str, str], starts: Sequence[Path]) -> Path | None:
    """`make run`'s data folder: TIERLINE_RUN_DIR, TIERLINE_HOME/.run, or a .run above one of ``starts``."""
    if environ.get("TIERLINE_RUN_DIR"):
        folder = Path(environ["TIERLINE_RUN_DIR"])
        return folder if folder.is_dir() else None
    if environ.get("TIERLINE_HOME"):
        folder = Path(environ["TIERLINE_HOME"]) / ".run"
        return folder if folder.is_dir() else None
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / ".run").is_dir():
                return folder / ".run"
    return None


def local_database_url(service: str, environ: Mapping[str, str], starts: Sequence[Path]) -> str | None:
    """The database `make run` gave ``service``, for a shell where TIERLINE_DATABASE_URL is unset.

    None when TIERLINE_DATABASE_URL is set (it wins) or no `make run` folder is found.
    """
    if environ.get("TIERLINE_DATABASE_URL"):
        return None
    database = service.replace("-", "_")
    own = environ.get(f"TIERLINE_{database.upper()}_DATABASE_URL")  # the launcher's per-service override
    if own:
        return own
    if find_run_dir(environ, starts) is None:
        return None
    port = environ.get("TIERLINE_RUN_POSTGRES_PORT") or RUN_POSTGRES_PORT
    return f"postgresql+asyncpg://{RUN_POSTGRES_USER}@127.0.0.1:{port}/{database}"


def shown_url(url: str) -> str:
    """A database URL fit for a message: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as "the database" rather than echoed
        return "the configured database"


def database_failure(exc: BaseException) -> str | None:
    """One line for an error of reaching or using the database, None for anything else (a bug)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig.__cause__ or exc.orig  # SQLAlchemy's adapter wraps the driver's own error
    elif not isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError):
        return None
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def parser(service: str, admin_commands: Sequence[AdminCommand]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"tierline-{service}",
        epilog="Without TIERLINE_DATABASE_URL, a checkout where `make run` ran uses its database.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("serve", help="run the HTTP API, consumers and workers")
    sub.add_parser("migrate", help="upgrade this service's database to the newest schema")
    for command in admin_commands:
        command.configure(sub.add_parser(command.name, help=command.help, description=command.help))
    return p


def run(
    *,
    service: str,
    app_factory: str,
    settings: Callable[[], ServiceSettings],
    package_file: str,
    argv: list[str] | None = None,
    admin_commands: Sequence[AdminCommand] = (),
) -> int:
    args = parser(service, admin_commands).parse_args(argv)
    cfg = settings()
    local = local_database_url(service, os.environ, [Path.cwd(), Path(package_file).resolve().parent])
    if local:
        cfg = cfg.model_copy(update={"database_url": local})
    if args.command in ("serve", "migrate"):
        configure_logging(service, cfg.log_level)
        if local:
            get_logger("tierline.cli").info("database_of_make_run", database=shown_url(local))
    if args.command == "serve":
        uvicorn.run(
            app_factory,
            factory=True,
            host=cfg.host,
            port=cfg.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
        return 0
    try:
        if args.command == "migrate":
            return _migrate(service, cfg, package_file)
        handler = next(c.handle for c in admin_commands if c.name == args.command)
        return handler(args, cfg)
    except Exception as exc:  # re-raised below unless it is the database's
        reason = database_failure(exc)
        if reason is None:
            raise
        whose = "the database of `make run`" if local else "the database"
        print(
            f"tierline-{service}: cannot use {whose} at {shown_url(cfg.database_url)}: {reason}"
            + _hint(local is not None),
            file=sys.stderr,
        )
        return 1


def _hint(is_local_run: bool) -> str:
    if is_local_run:
        return " (is `make run` running?)"
    if os.environ.get("TIERLINE_DATABASE_URL"):
        return ""
    return " (TIERLINE_DATABASE_URL is unset: set it, or start `make run` in the checkout)"


def _migrate(service: str, cfg: ServiceSettings, package_file: str) -> int:
    log = get_logger("tierline.cli")
    folder = migrations_dir(package_file)
    log.info("migrating", folder=str(folder))
    migrations.upgrade(folder, cfg.database_url)
    log.info("migrated")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run a service's own CLI, e.g. python -m tierline_intake serve")
