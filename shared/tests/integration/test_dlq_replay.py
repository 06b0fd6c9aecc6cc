"""``dlq replay``: dead letters applied again after a fix, once, through the consumer's own inbox."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared import cli, db
from tierline_shared.auth import access_tables
from tierline_shared.errors import DomainError
from tierline_shared.events import Envelope, IncidentAcknowledged, IncidentCreated, topics
from tierline_shared.messaging import cloudevents, dlq
from tierline_shared.messaging.consumer import EventConsumer
from tierline_shared.messaging.tables import messaging_tables
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import ServiceSettings
from tierline_shared.testing import eventually

from . import messaging_support as support
from .messaging_support import envelope as _envelope

pytestmark = pytest.mark.integration

metadata = db.new_metadata()
outbox_table, inbox_table = messaging_tables(metadata)
access_tables(metadata)
effects = support.effects_table(metadata)
REPO = Path(__file__).resolve().parents[3]


def _record(topic: str, offset: int, envelope: Envelope | None = None) -> ConsumerRecord:
    """A record as a fetch of partition 0 hands it over; without an envelope, garbage."""
    if envelope is None:
        return ConsumerRecord(topic, 0, offset, 0, 0, b"junk", b"\xffnot an event", None, 4, 13, [])
    return support.fetched(topic, offset, envelope)


class Fragile:
    """A handler that fails on the poison events until it is fixed."""

    def __init__(self, *poison: Envelope) -> None:
        self.poison = {e.id for e in poison}
        self.fixed = False

    async def __call__(self, session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(insert(effects).values(incident_id=envelope.data.incident_id, note="done"))
        if envelope.id in self.poison and not self.fixed:
            raise DomainError("cannot apply this one")


@pytest.fixture
async def database(new_database) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    url = new_database("replay")
    async with support.database(url, metadata) as (_engine, sessions):
        yield url, sessions


@pytest.fixture
def sessions(database) -> async_sessionmaker[AsyncSession]:
    return database[1]


@pytest.fixture
async def topic(infra, unique: str) -> str:
    """A topic of 1 partition whose DLQ has 2 (dead letters spread by key, as in production)."""
    name = f"test.replay.{unique}"
    # the DLQ first: ensure_topics makes a topic's DLQ like the topic, unless it exists
    await support.make_topics(infra.bootstrap_servers, [topics.dlq(name), topics.INCIDENTS], partitions=2)
    await support.make_topics(infra.bootstrap_servers, [name], partitions=1)
    return name


def _consumers(infra, sessions, topic: str, group: str, handler: Fragile) -> Callable[..., EventConsumer]:
    def make(dead_letters: AIOKafkaProducer) -> EventConsumer:
        return support.consumer(
            infra.bootstrap_servers,
            sessions,
            inbox_table,
            dead_letters,
            group,
            topic,
            {IncidentCreated: handler},
        )

    return make


async def _live(make: Callable[..., EventConsumer], producer: AIOKafkaProducer, *records) -> list[str]:
    """What the live consumer does with a fetch: applied, or dead-lettered for real."""
    consumer = make(producer)
    try:
        return await consumer.process_batch(list(records))
    finally:
        await consumer.stop()


async def _dead_letters(infra, topic: str) -> list[ConsumerRecord]:
    """Every record of the topic's DLQ now, partition by partition."""
    tps = [TopicPartition(topics.dlq(topic), p) for p in (0, 1)]
    return await support.read_to_end(infra.bootstrap_servers, tps, "the DLQ read to its end")


async def _effects(sessions) -> dict[uuid.UUID, list[str]]:
    async with sessions() as session:
        rows = (await session.execute(select(effects.c.incident_id, effects.c.note))).all()
    found: dict[uuid.UUID, list[str]] = {}
    for incident_id, note in rows:
        found.setdefault(incident_id, []).append(note)
    return found


async def _inboxed(sessions, group: str) -> set[uuid.UUID]:
    async with sessions() as session:
        return set(
            await session.scalars(select(inbox_table.c.event_id).where(inbox_table.c.consumer == group))
        )


async def test_a_replay_after_the_fix_applies_each_dead_letter_once_and_a_second_finds_duplicates(
    infra, sessions, producer, topic: str, unique: str
) -> None:
    group, other = f"g-{unique}", f"other-{unique}"
    good, poison1, poison2, theirs = _envelope(), _envelope(), _envelope(), _envelope()
    handler = Fragile(poison1, poison2)
    make = _consumers(infra, sessions, topic, group, handler)
    records = [_record(topic, i, e) for i, e in enumerate([good, poison1, poison2])]
    assert await _live(make, producer, *records) == ["processed", "dead_lettered", "dead_lettered"]
    # Another consumer group dead-lettered one of its own: its replay, not ours.
    assert await _live(
        _consumers(infra, sessions, topic, other, Fragile(theirs)), producer, _record(topic, 3, theirs)
    ) == ["dead_lettered"]
    assert len(await _dead_letters(infra, topic)) == 3
    before = await _effects(sessions)
    assert before == {good.data.incident_id: ["done"]}

    async def replay(dry_run: bool = False) -> dlq.ReplayReport:
        return await dlq.replay(make, bootstrap_servers=infra.bootstrap_servers, topic=topic, dry_run=dry_run)

    # A dry run counts and changes nothing.
    report = await replay(dry_run=True)
    assert (report.read, report.other_groups, report.replayed, report.duplicates) == (3, 1, 2, 0)
    assert report.failing == [] and report.group == group and report.topic == topics.dlq(topic)
    assert await _effects(sessions) == before
    assert await _inboxed(sessions, group) == {good.id}

    # Not fixed yet: both fail again, are reported with the reason, and are not dead-lettered again.
    report = await replay()
    assert report.replayed == 0 and report.duplicates == 0
    assert {(f.origin, f.event_id, f.event_type) for f in report.failing} == {
        (f"{topic}/0/1", str(poison1.id), IncidentCreated.event_type),
        (f"{topic}/0/2", str(poison2.id), IncidentCreated.event_type),
    }
    assert all(f.reason == "DomainError: cannot apply this one" for f in report.failing)
    assert len(await _dead_letters(infra, topic)) == 3
    assert await _effects(sessions) == before

    handler.fixed = True
    report = await replay()
    assert (report.replayed, report.duplicates, report.failing, report.other_groups) == (2, 0, [], 1)
    applied = await _effects(sessions)
    assert applied[poison1.data.incident_id] == applied[poison2.data.incident_id] == ["done"]
    assert theirs.data.incident_id not in applied
    assert await _inboxed(sessions, group) == {good.id, poison1.id, poison2.id}
    assert await _inboxed(sessions, other) == set()

    # Again: every one a duplicate, nothing applied twice; a dry run sees the same.
    report = await replay()
    assert (report.replayed, report.duplicates, report.failing) == (0, 2, [])
    assert await _effects(sessions) == applied
    report = await replay(dry_run=True)
    assert (report.replayed, report.duplicates, report.failing) == (0, 2, [])


async def test_requeue_dead_letters_a_record_failing_again_once_and_the_replay_does_not_read_it_back(
    infra, sessions, producer, topic: str, unique: str
) -> None:
    group = f"g-{unique}"
    poison = _envelope()
    handler = Fragile(poison)
    make = _consumers(infra, sessions, topic, group, handler)
    assert await _live(make, producer, _record(topic, 7, poison)) == ["dead_lettered"]

    report = await dlq.replay(make, bootstrap_servers=infra.bootstrap_servers, topic=topic, requeue=producer)
    assert report.read == 1 and len(report.failing) == 1  # its requeued copy lies past the end it read

    first, again = sorted(await _dead_letters(infra, topic), key=lambda r: r.offset)
    assert first.value == again.value == cloudevents.encode(poison).value and first.key == again.key
    headers = [name for name, _ in again.headers]
    assert headers.count("tierline_dlq_error") == 1  # the old reason replaced, not piled up
    found = dict(again.headers)
    assert found["tierline_dlq_error"] == b"DomainError: cannot apply this one"
    assert found["tierline_dlq_consumer"] == group.encode()
    assert found["tierline_dlq_origin"] == f"{topic}/0/7".encode()  # where it came from, still
    assert found["ce_id"] == str(poison.id).encode()

    handler.fixed = True
    report = await dlq.replay(make, bootstrap_servers=infra.bootstrap_servers, topic=topic)
    assert (report.read, report.replayed, report.duplicates, report.failing) == (2, 1, 1, [])
    assert (await _effects(sessions))[poison.data.incident_id] == ["done"]


async def test_since_skips_what_was_dead_lettered_before_it(
    infra, sessions, producer, topic: str, unique: str
) -> None:
    group = f"g-{unique}"
    poison = _envelope()
    handler = Fragile(poison)
    make = _consumers(infra, sessions, topic, group, handler)
    assert await _live(make, producer, _record(topic, 0)) == ["dead_lettered"]  # garbage: never applies
    [garbage] = await _dead_letters(infra, topic)
    since_ms = garbage.timestamp + 1
    await eventually(lambda: time.time() * 1000 > since_ms + 1, what="a later millisecond")
    assert await _live(make, producer, _record(topic, 1, poison)) == ["dead_lettered"]
    later = [
        r
        for r in await _dead_letters(infra, topic)
        if r.offset != garbage.offset or r.partition != garbage.partition
    ]
    assert later[0].timestamp >= since_ms
    handler.fixed = True

    since = datetime.fromtimestamp(since_ms / 1000, UTC)
    report = await dlq.replay(make, bootstrap_servers=infra.bootstrap_servers, topic=topic, since=since)
    assert (report.to_read, report.read, report.replayed, report.failing) == (1, 1, 1, [])
    assert (await _effects(sessions))[poison.data.incident_id] == ["done"]

    # From the beginning: the garbage is read too, and still fails, with its reason.
    report = await dlq.replay(make, bootstrap_servers=infra.bootstrap_servers, topic=topic)
    assert (report.read, report.replayed, report.duplicates) == (2, 0, 1)
    [failure] = report.failing
    assert failure.origin == f"{topic}/0/0" and failure.reason.startswith("undecodable: missing CloudEvents")
    lines = dlq.summary(report)
    assert "replayed 0, duplicates 1, ignored 0, still failing 1" in lines[1]
    assert lines[2].startswith(f"  still failing: {topic}/0/0 - -: undecodable: missing CloudEvents headers")


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """The command sets logging up for itself; the test session's set-up comes back after."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)


async def test_the_command_replays_through_the_services_consumer_and_publishes_what_it_staged(
    infra, database, producer, topic: str, unique: str, capsys, monkeypatch, logging_restored
) -> None:
    url, sessions = database
    monkeypatch.setenv("TIERLINE_DATABASE_URL", url)  # not a `make run` database found nearby
    good, poison = _envelope(), _envelope()
    fixed = False

    def build_spec(cfg: ServiceSettings) -> ServiceSpec:
        def handlers(rt: Runtime) -> dict:
            async def handle(session: AsyncSession, envelope: Envelope) -> None:
                await session.execute(
                    insert(effects).values(incident_id=envelope.data.incident_id, note="done")
                )
                ack = IncidentAcknowledged(
                    incident_id=envelope.data.incident_id, acknowledged_at=datetime.now(UTC)
                )
                await rt.outbox.add(session, ack)
                if envelope.id == poison.id and not fixed:
                    raise DomainError("cannot apply this one")

            return {IncidentCreated: handle}

        return ServiceSpec(
            name=f"replay-{unique}",
            version="0",
            description="",
            settings=cfg,
            metadata=metadata,
            publishes=[topics.INCIDENTS],
            consumes=[topic],
            handlers=handlers,
        )

    cfg = ServiceSettings(database_url=url, kafka_bootstrap_servers=infra.bootstrap_servers)
    live = Runtime(build_spec(cfg))
    consumer = live.new_consumer(producer)
    assert consumer is not None and consumer.group_id == f"tierline-replay-{unique}"
    try:
        assert await consumer.process_batch([_record(topic, 0, good), _record(topic, 1, poison)]) == [
            "processed",
            "dead_lettered",
        ]
    finally:
        await consumer.stop()
        await live.engine.dispose()

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(
            cli.run,
            service=f"replay-{unique}",
            app_factory="unused:create_app",
            settings=lambda: cfg,
            package_file=__file__,
            argv=["dlq", "replay", *argv],
            spec_factory=build_spec,
        )
        out, err = capsys.readouterr()
        return code, out, err

    def summary(out: str) -> list[dict]:
        """The JSON summary ending stdout. Loggers this test session cached before the command set
        logging up still print there; a fresh process logs to stderr only (see the next test)."""
        lines = out.splitlines()
        start = max(i for i, line in enumerate(lines) if line == "[")
        return json.loads("\n".join(lines[start:]))

    code, out, err = await run("--topic", topic, "--json")
    assert code == 1, err
    [report] = summary(out)
    assert report["group"] == f"tierline-replay-{unique}" and report["replayed"] == 0
    assert [f["reason"] for f in report["failing"]] == ["DomainError: cannot apply this one"]
    assert f"{topics.dlq(topic)}: 1/1 read" in err  # progress, on stderr

    code, out, _ = await run("--topic", topics.dlq(topic), "--dry-run", "--json")  # the DLQ's name does too
    [report] = summary(out)
    assert code == 0 and report["replayed"] == 1 and report["dry_run"] is True

    fixed = True
    code, out, err = await run("--topic", topic)
    assert code == 0, err
    assert "would" not in out and "replayed 1, duplicates 0, ignored 0, still failing 0" in out
    assert "published 2 event(s)" in err  # the good event's and the replayed one's acknowledgements
    async with sessions() as session:
        unpublished = await session.scalar(
            select(outbox_table.c.seq).where(outbox_table.c.published_at.is_(None)).limit(1)
        )
    assert unpublished is None
    assert (await _effects(sessions))[poison.data.incident_id] == ["done"]

    code, out, _ = await run("--topic", topic)
    assert code == 0 and "replayed 0, duplicates 1, ignored 0, still failing 0" in out

    code, _, err = await run("--topic", "tierline.nowhere")
    assert code == 2
    assert f"--topic tierline.nowhere: tierline-replay-{unique} consumes {topic}, tierline.access" in err


SERVICES = ("intake", "router", "sla_monitor", "vendor_gateway")


async def test_every_service_has_the_command(
    infra, new_database, unique: str, capsys, monkeypatch, logging_restored
) -> None:
    """Each service's CLI builds its consumer from its own spec and reads its DLQs (none exist under a
    fresh prefix); one runs as ``python -m``, as an operator runs it, whose stdout is the JSON alone."""
    prefix = f"t{unique}."
    env = {
        "TIERLINE_DATABASE_URL": new_database("cli"),
        "KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "TIERLINE_KAFKA_TOPIC_PREFIX": prefix,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(REPO)  # where deploy/config is

    def check(service: str, reports: list[dict]) -> None:
        name = service.replace("_", "-")
        assert {r["group"] for r in reports} == {f"{prefix}tierline-{name}"}
        dlqs = [r["topic"] for r in reports]
        assert f"{prefix}{topics.ACCESS}.dlq" in dlqs and len(dlqs) >= 3, (service, dlqs)
        assert all(r["missing"] and r["dry_run"] for r in reports)

    for service in SERVICES:
        config = importlib.import_module(f"tierline_{service}.config")
        code = await asyncio.to_thread(
            cli.run,
            service=service.replace("_", "-"),
            app_factory=f"tierline_{service}.bootstrap:create_app",  # its build_spec is found beside
            settings=config.Settings,
            package_file=importlib.import_module(f"tierline_{service}").__file__ or "",
            argv=["dlq", "replay", "--dry-run", "--json"],
        )
        out, err = capsys.readouterr()
        assert code == 0, (service, err[-2000:])
        lines = out.splitlines()
        check(service, json.loads("\n".join(lines[max(i for i, line in enumerate(lines) if line == "[") :])))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tierline_router",
        "dlq",
        "replay",
        "--dry-run",
        "--json",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out_bytes, err_bytes = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err_bytes.decode()[-2000:]
    check("router", json.loads(out_bytes))
