"""The command line every service has: ``serve``, ``migrate``, ``dlq replay``, and its own admin commands."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tierline_shared import migrations
from tierline_shared.logging import configure_logging, get_logger
from tierline_shared.settings import ServiceSettings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from tierline_shared.messaging.consumer import EventConsumer
    from tierline_shared.messaging.dlq import ReplayReport
    from tierline_shared.runtime import Runtime, ServiceSpec

SpecFactory = Callable[[ServiceSettings], "ServiceSpec"]

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
    spec_factory: SpecFactory | str | None = None,
) -> int:
    """``spec_factory`` builds the service's ServiceSpec (``dlq replay`` runs its handlers); by
    default ``build_spec`` beside ``app_factory``."""
    factory = spec_factory or f"{app_factory.partition(':')[0]}:build_spec"
    admin_commands = [*admin_commands, dlq_command(factory)]
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


def dlq_command(spec_factory: SpecFactory | str) -> AdminCommand:
    """``dlq replay``: apply again what this service's consumer dead-lettered (``messaging.dlq``)."""

    def handle(args: argparse.Namespace, cfg: ServiceSettings) -> int:
        factory = _imported(spec_factory) if isinstance(spec_factory, str) else spec_factory
        return asyncio.run(_dlq_replay(args, cfg, factory))

    return AdminCommand(
        name="dlq",
        help="replay dead letters of this service's consumer after a fix (idempotent)",
        configure=_configure_dlq,
        handle=handle,
    )


def _configure_dlq(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    about = (
        "Read <topic>.dlq and apply each record this service's consumer group dead-lettered through its "
        "handlers and inbox, as the live consumer does: an event already applied is a duplicate. A record "
        "that fails again is reported, not dead-lettered again (unless --requeue). "
        "Exits 1 if any still fails."
    )
    replay = sub.add_parser("replay", help="apply dead letters again", description=about)
    replay.add_argument(
        "--topic",
        action="append",
        help="a topic this service consumes, e.g. tierline.incidents (its .dlq is read; repeat for "
        "several; default: all it consumes)",
    )
    replay.add_argument(
        "--since",
        type=_instant,
        help="ISO 8601 time, e.g. 2025-01-31T14:00:00Z: only records dead-lettered at or after it "
        "(UTC if no offset is given; default: the whole DLQ)",
    )
    mode = replay.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="apply nothing: count what would be replayed or is a duplicate"
    )
    mode.add_argument(
        "--requeue",
        action="store_true",
        help="dead-letter a record that fails again once more (with its new reason), "
        "instead of only reporting it",
    )
    replay.add_argument("--json", action="store_true", help="print the summary as JSON")


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _imported(path: str) -> SpecFactory:
    module, _, name = path.partition(":")
    factory: SpecFactory = getattr(importlib.import_module(module), name)
    return factory


class _Usage(Exception):
    """A command line this service cannot run (exit 2)."""


async def _dlq_replay(args: argparse.Namespace, cfg: ServiceSettings, build_spec: SpecFactory) -> int:
    from aiokafka.errors import KafkaError

    from tierline_shared.messaging import dlq
    from tierline_shared.messaging.kafka import new_producer
    from tierline_shared.runtime import Runtime

    spec = build_spec(cfg)
    configure_logging(spec.name, cfg.log_level)
    for handler in logging.getLogger().handlers:  # stdout is the summary's: log lines go to stderr
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    rt = Runtime(spec)
    producer: AIOKafkaProducer | None = None
    reports: list[ReplayReport] = []
    try:
        chosen = _replayed_topics(rt, args.topic)
        if not args.dry_run:  # for --requeue, and to publish what the replayed handlers staged
            producer = new_producer(cfg.kafka_bootstrap_servers, f"tierline-{spec.name}-dlq-replay")
            await producer.start()

        def consumer(dead_letters: AIOKafkaProducer) -> EventConsumer:
            made = rt.new_consumer(dead_letters)
            if made is None:
                raise _Usage(f"tierline-{spec.name} consumes no events")
            return made

        for topic in chosen:
            reports.append(
                await dlq.replay(
                    consumer,
                    bootstrap_servers=cfg.kafka_bootstrap_servers,
                    topic=topic,
                    since=args.since,
                    dry_run=args.dry_run,
                    requeue=producer if args.requeue else None,
                    progress=_progress,
                )
            )
        if producer is not None and any(r.replayed for r in reports):
            await _publish_staged(rt, producer)
    except _Usage as exc:
        print(f"tierline-{spec.name}: {exc}", file=sys.stderr)
        return 2
    except (KafkaError, TimeoutError) as exc:
        print(
            f"tierline-{spec.name}: cannot use Kafka at {cfg.kafka_bootstrap_servers}: "
            f"{str(exc) or type(exc).__name__}",
            file=sys.stderr,
        )
        return 1
    finally:
        if producer is not None:
            await producer.stop()
        await rt.engine.dispose()
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        for report in reports:
            print("\n".join(dlq.summary(report)))
    return 1 if any(r.failing for r in reports) else 0


def _replayed_topics(rt: Runtime, asked: list[str] | None) -> list[str]:
    """The consumed topics (as on the broker, prefixed) whose DLQs are read."""
    prefix = rt.settings.kafka_topic_prefix
    consumed = [prefix + t for t in rt.consumed_topics()]
    if not asked:
        return consumed
    chosen: list[str] = []
    for name in asked:
        bare = name.removesuffix(".dlq")
        match = next((t for t in consumed if t in (bare, prefix + bare)), None)
        if match is None:
            raise _Usage(f"--topic {name}: tierline-{rt.spec.name} consumes {', '.join(consumed)}")
        if match not in chosen:
            chosen.append(match)
    return chosen


def _progress(report: ReplayReport) -> None:
    done = "would replay" if report.dry_run else "replayed"
    print(
        f"{report.topic}: {report.read}/{report.to_read} read, {done} {report.replayed}, "
        f"duplicates {report.duplicates}, still failing {len(report.failing)}",
        file=sys.stderr,
        flush=True,
    )


async def _publish_staged(rt: Runtime, producer: AIOKafkaProducer) -> None:
    """Publish the events the replayed handlers staged; a running service's relay may get there first."""
    from tierline_shared.messaging.outbox import OutboxRelay

    s = rt.settings
    relay = OutboxRelay(
        rt.outbox_table,
        rt.sessions,
        producer,
        batch_size=s.outbox_batch_size,
        topic_prefix=s.kafka_topic_prefix,
    )
    published = 0
    while (count := await relay.publish_batch()) > 0:
        published += count
        if count < s.outbox_batch_size:
            break
    print(f"published {published} event(s) the replayed handlers staged", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run a service's own CLI, e.g. python -m tierline_intake serve")
