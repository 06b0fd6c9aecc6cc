"""make bench: Tierline's messaging paths against raw asyncpg / raw aiokafka, measured in one run.

Figures are ratios to a baseline taken on the same servers in the same run, because
these machines are shared and noisy. Counts are bounded; so is each phase's time.

    python -m tests.bench.messaging [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Column, Table, Text, Uuid, insert
from sqlalchemy.engine import make_url

from tierline_launcher.procs import say
from tierline_launcher.system import Infra
from tierline_shared import db
from tierline_shared.events import Envelope, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer
from tierline_shared.messaging.kafka import ensure_topics, new_admin, new_producer
from tierline_shared.messaging.outbox import Outbox, OutboxRelay
from tierline_shared.messaging.tables import messaging_tables

PHASE_LIMIT_SECONDS = 120

metadata = db.new_metadata()
outbox_table, inbox_table = messaging_tables(metadata)
items = Table("items", metadata, Column("id", Uuid, primary_key=True), Column("title", Text))


def _event() -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="bench",
        service="svc",
        category="cat",
        priority="P3",
        channel="api",
        reporter="bench",
        created_at=datetime.now(UTC),
    )


async def _timed(label: str, n: int, fn: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await asyncio.wait_for(fn(), PHASE_LIMIT_SECONDS)
    elapsed = time.perf_counter() - started
    say(f"  {label}: {n} in {elapsed:.2f}s")
    return n / elapsed


def _report(name: str, unit: str, ours: float, baseline: float, baseline_name: str) -> str:
    ratio = ours / baseline
    return f"{name:<34} {ours:>9.0f} {unit}   {baseline_name} {baseline:>9.0f} {unit}   ratio {ratio:5.2f}"


async def bench_outbox_write(url: str, n: int) -> str:
    """A unit of work writing one row plus its event, vs the same two INSERTs in raw asyncpg."""
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    outbox = Outbox(outbox_table, source="/bench")

    async def ours() -> None:
        for _ in range(n):
            event = _event()
            async with sessions() as s, s.begin():
                await s.execute(insert(items).values(id=event.incident_id, title=event.title))
                await outbox.add(s, event)

    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, database=parsed.database
    )

    async def raw() -> None:
        for _ in range(n):
            event = _event()
            record = cloudevents.encode(Envelope(data=event, source="/bench"))
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO items (id, title) VALUES ($1, $2)", event.incident_id, event.title
                )
                await conn.execute(
                    "INSERT INTO outbox (event_id, topic, key, event_type, headers, value) "
                    "VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
                    uuid.uuid4(),
                    record.topic,
                    record.key.decode(),
                    event.event_type,
                    '[["ce_id","x"]]',
                    record.value,
                )

    baseline = await _timed("raw asyncpg transactions", n, raw)
    rate = await _timed("outbox unit of work", n, ours)
    await conn.execute("TRUNCATE outbox, items")
    await conn.close()
    await engine.dispose()
    return _report("outbox write (tx/s)", "tx/s", rate, baseline, "raw asyncpg")


async def bench_relay(url: str, bootstrap: str, n: int) -> str:
    """Relaying n committed outbox rows to Kafka (acks=all) vs raw aiokafka sends of the same records."""
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    outbox = Outbox(outbox_table, source="/bench")
    async with sessions() as s, s.begin():
        for _ in range(n):
            await outbox.add(s, _event())
    producer = new_producer(bootstrap, "bench")
    await producer.start()
    records = [cloudevents.encode(Envelope(data=_event(), source="/bench")) for _ in range(n)]
    for r in records[:20]:  # warm-up: connections and metadata, outside the timing
        await producer.send_and_wait(r.topic, value=r.value, key=r.key, headers=r.headers)

    async def raw() -> None:
        futures = [await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*futures)

    relay = OutboxRelay(outbox_table, sessions, producer, batch_size=500)

    async def ours() -> None:
        sent = 0
        while sent < n:
            sent += await relay.publish_batch()

    baseline = await _timed("raw aiokafka sends", n, raw)
    rate = await _timed("outbox relay", n, ours)
    await producer.stop()
    await engine.dispose()
    return _report("outbox relay (events/s)", "ev/s", rate, baseline, "raw aiokafka")


async def bench_consume(url: str, bootstrap: str, n: int) -> str:
    """Idempotent consumption (inbox row + effect per event) vs a raw aiokafka read of the topic."""
    topic = f"bench.consume.{uuid.uuid4().hex[:8]}"
    admin = new_admin(bootstrap, "bench-admin")
    await admin.start()
    await ensure_topics(admin, [topic], partitions=6, replication_factor=1)
    await admin.close()
    producer = new_producer(bootstrap, "bench")
    await producer.start()
    futures = []
    for _ in range(n):
        r = cloudevents.encode(Envelope(data=_event(), source="/bench"))
        futures.append(await producer.send(topic, value=r.value, key=r.key, headers=r.headers))
    await asyncio.gather(*futures)

    async def raw() -> None:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        seen = 0
        while seen < n:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                for record in batch:
                    cloudevents.decode(record.headers, record.value)
                    seen += 1
        await consumer.stop()

    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    done = asyncio.Event()
    handled = 0

    async def effect(session, envelope: Envelope) -> None:
        nonlocal handled
        await session.execute(insert(items).values(id=envelope.data.incident_id, title="x"))
        handled += 1
        if handled >= n:
            done.set()

    consumer = EventConsumer(
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handlers={IncidentCreated: effect},
        bootstrap_servers=bootstrap,
        sessions=sessions,
        inbox=inbox_table,
        producer=producer,
    )

    task: asyncio.Task[None] | None = None

    async def ours() -> None:
        nonlocal task
        task = asyncio.create_task(consumer.run())
        await done.wait()

    baseline = await _timed("raw aiokafka reads", n, raw)
    # Join the group before timing: a rebalance is not throughput.
    await consumer.start()
    while not consumer.consumer.assignment():  # noqa: ASYNC110 - aiokafka offers no event for this
        await asyncio.sleep(0.05)
    try:
        rate = await _timed("idempotent consumer", n, ours)
    finally:
        if task:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
    await producer.stop()
    await engine.dispose()
    return _report("idempotent consume (events/s)", "ev/s", rate, baseline, "raw aiokafka")


async def main_async(infra: Infra, n: int) -> list[str]:
    url = infra.create_database(f"bench_{uuid.uuid4().hex[:6]}")
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    admin = new_admin(infra.bootstrap_servers, "bench-admin")
    await admin.start()
    await ensure_topics(admin, list(topics.ALL), partitions=6, replication_factor=1)
    await admin.close()
    say(f"benchmarking with {n} events per phase")
    return [
        await bench_outbox_write(url, n),
        await bench_relay(url, infra.bootstrap_servers, n),
        await bench_consume(url, infra.bootstrap_servers, n),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="events per phase (bounded: max 20000)")
    args = parser.parse_args()
    n = max(100, min(args.events, 20_000))
    root = Path(tempfile.mkdtemp(prefix="tierline-bench-"))
    os.chmod(root, 0o755)
    infra = Infra(root, durable=False)
    try:
        infra.start()
        lines = asyncio.run(main_async(infra, n))
    finally:
        infra.stop()
        shutil.rmtree(root, ignore_errors=True)
    print("\nTierline messaging benchmark (ratio = Tierline / raw baseline, same servers, same run)")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
