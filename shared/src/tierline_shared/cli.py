"""The command line every service has: ``serve`` and ``migrate``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from tierline_shared import migrations
from tierline_shared.logging import configure_logging, get_logger
from tierline_shared.settings import ServiceSettings


def migrations_dir(package_file: str) -> Path:
    """services/<svc>/migrations for a source checkout; TIERLINE_MIGRATIONS_DIR in images."""
    override = os.environ.get("TIERLINE_MIGRATIONS_DIR")
    if override:
        return Path(override)
    return Path(package_file).resolve().parents[2] / "migrations"


def run(
    *,
    service: str,
    app_factory: str,
    settings: Callable[[], ServiceSettings],
    package_file: str,
    argv: list[str] | None = None,
) -> int:
    parser = argparse.ArgumentParser(prog=f"tierline-{service}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP API, consumers and workers")
    sub.add_parser("migrate", help="upgrade this service's database to the newest schema")
    args = parser.parse_args(argv)
    cfg = settings()
    configure_logging(service, cfg.log_level)
    log = get_logger("tierline.cli")
    if args.command == "migrate":
        folder = migrations_dir(package_file)
        log.info("migrating", folder=str(folder))
        migrations.upgrade(folder, cfg.database_url)
        log.info("migrated")
        return 0
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run a service's own CLI, e.g. python -m tierline_intake serve")
