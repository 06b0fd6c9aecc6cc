"""Outbox relay, idempotent consumer and DLQ against the real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import db
from tierline_shared.events import Envelope, IncidentAcknowledged, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer
from tierline_shared.messaging.kafka import ensure_topics, new_admin
from tierline_shared.messaging.outbox import Outbox, OutboxRelay
from tierline_shared.messaging.tables import messaging_tables
from tierline_shared.testing import TopicReader, eventually

from . import messaging_support as support
from .messaging_support import created as _created

pytestmark = pytest.mark.integration

metadata = db.new_metadata()
outbox_table, inbox_table = messaging_tables(metadata)
effects = support.effects_table(metadata)


@pytest.fixture
async def database(new_database) -> AsyncIterator[tuple]:
    async with support.database(new_database("messaging"), metadata) as made:
        yield made


@pytest.fixture
async def kafka(infra, producer: AIOKafkaProducer) -> AIOKafkaProducer:
    await support.make_topics(infra.bootstrap_servers, topics.ALL, partitions=3, usable=False)
    return producer


async def test_relay_publishes_committed_rows_once_as_cloudevents(infra, database, kafka) -> None:
    _engine, sessions = database
    outbox = Outbox(outbox_table, source="/tierline/test")
    relay = OutboxRelay(outbox_table, sessions, kafka)
    event = _created()
    async with sessions() as session, session.begin():
        envelope = await outbox.add(session, event)
        await session.execute(insert(effects).values(incident_id=event.incident_id))

    # A rolled-back transaction leaves nothing to publish.
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await outbox.add(session, _created())
            raise RuntimeError("handler failed")

    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        assert await relay.publish_batch() == 1
        assert await relay.publish_batch() == 0
        found = await eventually(lambda: reader.of_type(event.event_type, str(event.incident_id)))
        assert found[0].id == envelope.id
        assert found[0].data == event
        raw = next(r for r in reader.records if r.key == str(event.incident_id).encode())
        assert dict(raw.headers)["ce_source"] == b"/tierline/test"

    async with sessions() as session:
        unpublished = await session.scalar(
            select(func.count()).select_from(outbox_table).where(outbox_table.c.published_at.is_(None))
        )
    assert unpublished == 0


async def _send(producer: AIOKafkaProducer, topic: str, envelope: Envelope) -> None:
    record = cloudevents.encode(envelope)
    await producer.send_and_wait(topic, value=record.value, key=record.key, headers=record.headers)


async def _effects(sessions, incident_id: uuid.UUID) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(select(effects.c.note).where(effects.c.incident_id == incident_id))
        return list(rows)


async def _run_consumer(consumer: EventConsumer) -> asyncio.Task:
    await consumer.start()
    return asyncio.create_task(consumer.run())


async def _stop(consumer: EventConsumer, task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await consumer.stop()


async def _make_topic(infra, name: str) -> None:
    admin = new_admin(infra.bootstrap_servers, "test-admin")
    await admin.start()
    await ensure_topics(admin, [name], partitions=3, replication_factor=1)
    await admin.close()


async def test_redelivered_event_takes_effect_once(infra, database, kafka, unique) -> None:
    _, sessions = database
    topic = f"test.redelivery.{unique}"
    await _make_topic(infra, topic)
    calls = 0

    async def record_effect(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        await session.execute(insert(effects).values(incident_id=envelope.data.incident_id, note="created"))

    def consumer() -> EventConsumer:
        return EventConsumer(
            group_id=f"g-{unique}",
            topics=[topic],
            handlers={IncidentCreated: record_effect},
            bootstrap_servers=infra.bootstrap_servers,
            sessions=sessions,
            inbox=inbox_table,
            producer=kafka,
        )

    envelope = Envelope(data=_created(), source="/test")
    await _send(kafka, topic, envelope)
    await _send(kafka, topic, envelope)  # the same event id again: a redelivery

    first = consumer()
    task = await _run_consumer(first)
    await eventually(lambda: calls >= 1, what="first delivery handled")
    await _send(kafka, topic, Envelope(data=_created(), source="/test"))  # a marker behind it
    await eventually(lambda: calls >= 2, what="marker handled")
    # Offsets are committed once the records' effects are committed: all three, on their partitions.
    end = await first.consumer.end_offsets(list(first.consumer.assignment()))

    async def all_committed() -> bool:
        return all([(await first.consumer.committed(tp) or 0) == offset for tp, offset in end.items()])

    await eventually(all_committed, what="offsets committed")
    await _stop(first, task)
    assert await _effects(sessions, envelope.data.incident_id) == ["created"]

    # Offsets were committed after the DB commit: a new member of the group starts after them.
    again = consumer()
    task = await _run_consumer(again)
    await _send(kafka, topic, envelope)  # redelivered once more, after a restart
    marker = Envelope(data=_created(), source="/test")
    await _send(kafka, topic, marker)
    await eventually(lambda: _effects(sessions, marker.data.incident_id), what="second marker handled")
    await _stop(again, task)
    assert await _effects(sessions, envelope.data.incident_id) == ["created"]
    assert calls == 3


async def test_poison_message_goes_to_dlq_and_consumer_keeps_going(infra, database, kafka, unique) -> None:
    _, sessions = database
    topic = f"test.poison.{unique}"
    await _make_topic(infra, topic)
    attempts: dict[uuid.UUID, int] = {}
    poison_id = uuid.uuid4()

    async def fragile(session: AsyncSession, envelope: Envelope) -> None:
        incident_id = envelope.data.incident_id
        attempts[incident_id] = attempts.get(incident_id, 0) + 1
        # The effect is written first, so a failure must roll it back.
        await session.execute(insert(effects).values(incident_id=incident_id, note="half"))
        if incident_id == poison_id:
            raise ValueError("cannot apply this one")

    consumer = EventConsumer(
        group_id=f"g-{unique}",
        topics=[topic],
        handlers={IncidentCreated: fragile},
        bootstrap_servers=infra.bootstrap_servers,
        sessions=sessions,
        inbox=inbox_table,
        producer=kafka,
        max_attempts=3,
        retry_initial_seconds=0.01,
        retry_max_seconds=0.02,
    )
    task = await _run_consumer(consumer)
    poison = Envelope(data=_created(poison_id), source="/test")
    healthy = Envelope(data=_created(), source="/test")
    await _send(kafka, topic, poison)
    await kafka.send_and_wait(topic, value=b"not a cloudevent", key=b"x", headers=[("ce_id", b"1")])
    await _send(kafka, topic, healthy)
    # Unknown types are skipped, not dead-lettered.
    ignored = Envelope(
        data=IncidentAcknowledged(incident_id=uuid.uuid4(), acknowledged_at=datetime.now(UTC)), source="/test"
    )
    await _send(kafka, topic, ignored)
    # A marker on the ignored record's partition, after it: once it is applied, all before it were seen.
    marker = Envelope(data=_created(ignored.data.incident_id), source="/test")
    await _send(kafka, topic, marker)

    await eventually(lambda: _effects(sessions, healthy.data.incident_id), what="healthy event applied")
    await eventually(lambda: _effects(sessions, marker.data.incident_id), what="marker applied")

    dlq = AIOKafkaConsumer(
        topics.dlq(topic),
        bootstrap_servers=infra.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await dlq.start()
    dead: list = []

    async def read_dlq() -> bool:
        batch = await dlq.getmany(timeout_ms=200)
        for records in batch.values():
            dead.extend(records)
        return len(dead) >= 2

    await eventually(read_dlq, what="two records dead-lettered")
    await dlq.stop()
    await _stop(consumer, task)

    assert attempts[poison_id] == 3
    assert await _effects(sessions, poison_id) == []
    errors = {r.value: dict(r.headers)["tierline_dlq_error"].decode() for r in dead}
    assert "cannot apply this one" in errors[cloudevents.encode(poison).value]
    assert errors[b"not a cloudevent"].startswith("undecodable")
    assert len(dead) == 2
    async with sessions() as session:
        inboxed = set(await session.scalars(select(inbox_table.c.event_id)))
    assert healthy.id in inboxed and poison.id not in inboxed


async def test_database_outage_pauses_the_consumer_without_losing_or_dead_lettering(
    infra, database, kafka, unique
) -> None:
    _, sessions = database
    topic = f"test.outage.{unique}"
    await _make_topic(infra, topic)
    outage = {"left": 6}
    applied: list[uuid.UUID] = []

    async def flaky(session: AsyncSession, envelope: Envelope) -> None:
        if outage["left"] > 0:
            outage["left"] -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database restarting"))
        applied.append(envelope.data.incident_id)
        await session.execute(insert(effects).values(incident_id=envelope.data.incident_id, note="ok"))

    consumer = EventConsumer(
        group_id=f"g-{unique}",
        topics=[topic],
        handlers={IncidentCreated: flaky},
        bootstrap_servers=infra.bootstrap_servers,
        sessions=sessions,
        inbox=inbox_table,
        producer=kafka,
        max_attempts=2,
        retry_initial_seconds=0.01,
        retry_max_seconds=0.05,
    )
    sent = [Envelope(data=_created(), source="/test") for _ in range(5)]
    for envelope in sent:
        await _send(kafka, topic, envelope)
    task = await _run_consumer(consumer)
    await eventually(lambda: len(applied) >= 5, timeout=30, what="all events applied after the outage")
    await _stop(consumer, task)
    assert sorted(applied, key=str) == sorted((e.data.incident_id for e in sent), key=str)
    dlq = AIOKafkaConsumer(
        topics.dlq(topic),
        bootstrap_servers=infra.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await dlq.start()
    try:
        end = await dlq.end_offsets(list(dlq.assignment()) or [])
    finally:
        await dlq.stop()
    assert sum(end.values()) == 0, "an outage must not dead-letter events"
