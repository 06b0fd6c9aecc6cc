"""SLA monitor processes SIGKILLed around due times: every clock's breach is announced exactly once, late.

Two monitors share one database and the real Kafka (own topic prefix). Phase 1: both arm clocks
from IncidentCreated events and are SIGKILLed before any clock falls due; the clocks fall due while
nothing runs; one process started again must announce every breach once, never early. Phase 2: two
processes run while clocks fall due continuously and one is SIGKILLed in the middle of the stream
(possibly holding claimed rows, or relayed events it had not yet marked sent); the survivor carries on.
The relay publishes at least once, so the same event id may repeat; counts are of first copies.
"""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from tests.support.replicas import ServiceReplicas, partitioned_producer, replica_group
from tierline_shared import migrations
from tierline_shared.events import Envelope, IncidentCreated, SlaBreached, SlaClockStarted, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.kafka import new_admin
from tierline_shared.testing import TopicReader, eventually

# About 45 s: two rounds of process starts plus the clocks' own few seconds.
pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
PARTITIONS = 6
INCIDENTS = 200  # per phase; two clocks (response, resolution) each
RESPONSE, RESOLUTION = 12, 14  # seconds: phase 1 arms and kills inside the first
STREAM_FROM, STREAM_FOR = 3.0, 5.0  # phase 2: response clocks fall due from +3 s over 5 s
WAIT = 60.0  # generous deadlines: the machine may be busy
BREACHED, STARTED = SlaBreached.event_type, SlaClockStarted.event_type
POLICY = {
    "policies": [{"name": "all", "response": f"{RESPONSE}s", "resolution": f"{RESOLUTION}s", "warnings": []}]
}


@pytest.fixture
def sla_url(new_database) -> str:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url)
    return url


@pytest.fixture
def monitors(infra, sla_url: str, unique: str, tmp_path: Path) -> Iterator[ServiceReplicas]:
    settings = {
        "TIERLINE_DATABASE_URL": sla_url,
        "TIERLINE_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "TIERLINE_KAFKA_TOPIC_PREFIX": f"restart-{unique}.",
        "TIERLINE_TOPIC_PARTITIONS": str(PARTITIONS),
        "TIERLINE_TIMER_POLL_SECONDS": "0.1",
    }
    config = {"sla.yaml": POLICY}
    with replica_group(
        "tierline_sla_monitor", tmp_path, config=config, settings=settings, wait=WAIT
    ) as group:
        yield group


@pytest.fixture
async def producer(infra, unique: str) -> AsyncIterator[AIOKafkaProducer]:
    async with partitioned_producer(infra.bootstrap_servers, f"restart-{unique}.", PARTITIONS) as kafka:
        yield kafka


@pytest.fixture
async def db(sla_url: str) -> AsyncIterator[asyncpg.Connection]:
    url = make_url(sla_url)
    conn = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    yield conn
    await conn.close()


async def settled_members(infra, group: str, count: int) -> bool:
    """Whether the group is stable with ``count`` members (a killed one stays until its session ends)."""
    admin = new_admin(infra.bootstrap_servers, "restart-test-describe")
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [(_, _, state, _, _, members, *_)] = response.groups
    return state == "Stable" and len(members) == count


def created(created_at: datetime) -> Envelope:
    fields = {"service": "mail", "category": "email", "priority": "P3", "channel": "api", "reporter": "test"}
    event = IncidentCreated(incident_id=uuid.uuid4(), title="restart", created_at=created_at, **fields)
    return Envelope(data=event, source="/tierline/test")


async def publish(kafka: AIOKafkaProducer, prefix: str, envelopes: list[Envelope]) -> None:
    futures = []
    for envelope in envelopes:
        record = cloudevents.encode(envelope)
        futures.append(
            await kafka.send(
                prefix + record.topic, value=record.value, key=record.key, headers=record.headers
            )
        )
    await asyncio.gather(*futures)


async def clock_states(db: asyncpg.Connection, ids: list[uuid.UUID]) -> Counter[str]:
    rows = await db.fetch(
        "SELECT state, count(*) AS n FROM clocks WHERE incident_id = ANY($1::uuid[]) GROUP BY state", ids
    )
    return Counter({r["state"]: r["n"] for r in rows})


@dataclass
class Announced:
    """The SLA topic as consumers see it: first copies by event id, and how many copies repeated."""

    breaches: dict[tuple[str, str], list[Any]]  # (incident, clock) -> SlaBreached payloads
    started: dict[tuple[str, str], int]
    other: Counter[str]
    repeats: int


def announced(reader: TopicReader, topic: str, ids: set[str]) -> Announced:
    seen: set[uuid.UUID] = set()
    result = Announced(defaultdict(list), Counter(), Counter(), 0)
    for e in reader.envelopes(topic):
        if e.subject not in ids:
            continue
        if e.id in seen:
            result.repeats += 1
            continue
        seen.add(e.id)
        if e.type == BREACHED:
            result.breaches[(e.subject, e.data.clock)].append(e.data)  # type: ignore[attr-defined]
        elif e.type == STARTED:
            result.started[(e.subject, e.data.clock)] += 1  # type: ignore[attr-defined]
        else:
            result.other[e.type] += 1
    return result


async def all_announced(
    db: asyncpg.Connection, reader: TopicReader, topic: str, ids: list[uuid.UUID]
) -> Announced:
    """Wait until no clock runs, the outbox is relayed and every (incident, clock) breach was read back."""
    expected, subjects = 2 * len(ids), {str(i) for i in ids}

    async def none_running() -> bool:
        return (await clock_states(db, ids))["running"] == 0

    async def relayed() -> bool:
        return await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0

    def read_back() -> Announced | None:
        story = announced(reader, topic, subjects)
        return story if len(story.breaches) >= expected else None

    await eventually(none_running, timeout=WAIT, interval=0.2, what="no clock left running")
    await eventually(relayed, timeout=WAIT, interval=0.2, what="outbox relayed")
    return await eventually(read_back, timeout=WAIT, interval=0.3, what=f"{expected} breaches read back")


async def check_exactly_once(
    db: asyncpg.Connection, story: Announced, ids: list[uuid.UUID], not_before: datetime
) -> list[float]:
    """Every clock breached once (topic and database agree), never early; returns lateness in seconds."""
    expected = {(str(i), c) for i in ids for c in ("response", "resolution")}
    assert set(story.breaches) == expected, "a clock's breach is missing, or a stranger's appeared"
    twice = {k: v for k, v in story.breaches.items() if len(v) != 1}
    assert not twice, f"{len(twice)} clocks announced more than once, e.g. {next(iter(twice.items()))}"
    assert set(story.started) == expected and set(story.started.values()) == {1}, "each clock started once"
    assert not story.other, f"unexpected SLA events: {story.other}"
    rows = await db.fetch(
        "SELECT incident_id, kind, state, due_at, stopped_at FROM clocks WHERE incident_id = ANY($1::uuid[])",
        ids,
    )
    assert len(rows) == len(expected), "one clock row per (incident, clock)"
    lateness = []
    for row in rows:
        [breach] = story.breaches[(str(row["incident_id"]), row["kind"])]
        assert row["state"] == "breached"
        assert breach.due_at == row["due_at"] and breach.breached_at == row["stopped_at"], (row, breach)
        assert breach.breached_at >= breach.due_at, f"announced early: {breach}"
        assert breach.breached_at >= not_before, f"announced before it could have been: {breach}"
        lateness.append((breach.breached_at - breach.due_at).total_seconds())
    return lateness


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return f"p50 {q[49]:.3f}s  p99 {q[98]:.3f}s  max {max(values):.3f}s"


async def test_killed_monitors_announce_every_breach_exactly_once_and_never_early(
    infra, monitors: ServiceReplicas, producer: AIOKafkaProducer, db: asyncpg.Connection
) -> None:
    prefix = monitors.env["TIERLINE_KAFKA_TOPIC_PREFIX"]
    group, sla = f"{prefix}tierline-sla-monitor", prefix + topics.SLA
    dlqs = [topics.dlq(prefix + t) for t in (topics.INCIDENTS, topics.ROUTING, topics.VENDOR)]
    async with TopicReader(infra.bootstrap_servers, [sla, *dlqs]) as reader, httpx.AsyncClient() as http:
        # Phase 1: both arm the clocks and die before any falls due; the clocks fall due with nobody running.
        monitors.start("a")
        monitors.start("b")
        await monitors.ready(http, "a", "b")
        await eventually(
            lambda: settled_members(infra, group, 2), timeout=WAIT, interval=0.3, what="a, b in group"
        )
        now = datetime.now(UTC)
        first = [created(now) for _ in range(INCIDENTS)]
        first_ids = [e.data.incident_id for e in first]  # type: ignore[attr-defined]
        await publish(producer, prefix, first)

        async def armed() -> bool:
            return (await clock_states(db, first_ids))["running"] == 2 * INCIDENTS

        await eventually(armed, timeout=WAIT, interval=0.1, what="phase 1 clocks armed")
        await monitors.kill("a", "b")
        killed_at = datetime.now(UTC)
        first_due = await db.fetchval("SELECT min(due_at) FROM clocks")
        last_due = await db.fetchval("SELECT max(due_at) FROM clocks")
        assert killed_at < first_due, f"too slow to test: killed {killed_at}, first clock due {first_due}"
        assert await clock_states(db, first_ids) == {"running": 2 * INCIDENTS}
        await eventually(
            lambda: datetime.now(UTC) > last_due + timedelta(seconds=1),
            timeout=RESOLUTION + WAIT,
            interval=0.2,
            what="every clock overdue",
        )
        assert await clock_states(db, first_ids) == {"running": 2 * INCIDENTS}, "a dead process fired?"
        restarted_at = datetime.now(UTC)
        monitors.start("c")
        await monitors.ready(http, "c")
        story = await all_announced(db, reader, sla, first_ids)
        lateness = await check_exactly_once(db, story, first_ids, not_before=restarted_at)
        print(f"phase 1: {len(lateness)} breaches after the restart, lateness {spread(lateness)}")
        print(f"phase 1: SLA events repeated by the relay (same id): {story.repeats}")

        # Phase 2: two processes, clocks falling due continuously; one is SIGKILLed mid-stream.
        monitors.start("d")
        await monitors.ready(http, "d")
        await eventually(
            lambda: settled_members(infra, group, 2), timeout=WAIT, interval=0.3, what="c, d in group"
        )
        start = datetime.now(UTC) - timedelta(seconds=RESPONSE - STREAM_FROM)
        step = timedelta(seconds=STREAM_FOR / INCIDENTS)
        second = [created(start + n * step) for n in range(INCIDENTS)]
        second_ids = [e.data.incident_id for e in second]  # type: ignore[attr-defined]
        published_at = datetime.now(UTC)
        await publish(producer, prefix, second)

        async def quarter_breached() -> Counter[str] | None:
            states = await clock_states(db, second_ids)
            return (
                states
                if sum(states.values()) == 2 * INCIDENTS and states["breached"] >= INCIDENTS // 2
                else None
            )

        at_kill = await eventually(
            quarter_breached, timeout=WAIT, interval=0.05, what="phase 2 stream under way"
        )
        await monitors.kill("c")
        print(f"phase 2: killed c at {dict(at_kill)}")
        assert at_kill["running"] > 0, "the stream was over before the kill"
        story2 = await all_announced(db, reader, sla, second_ids)
        lateness2 = await check_exactly_once(db, story2, second_ids, not_before=published_at)
        print(f"phase 2: {len(lateness2)} breaches, lateness {spread(lateness2)}")
        print(f"phase 2: SLA events repeated by the relay (same id): {story2.repeats}")
        assert await db.fetchval("SELECT count(*) FROM clocks WHERE state = 'running'") == 0
        assert not [r for r in reader.records if r.topic in dlqs], "nothing may be dead-lettered"
