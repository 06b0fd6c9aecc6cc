"""What the shared messaging integration tests build alike: events, fetched records, topics, the
``effects`` table their handlers write, a database with a module's tables, consumers and DLQ reads.

Fixtures on top of these (``producer``) are in conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import Column, Integer, MetaData, Table, Text, Uuid
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tierline_shared import db
from tierline_shared.events import Envelope, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer
from tierline_shared.messaging.kafka import ensure_topics, new_admin, wait_until_usable
from tierline_shared.testing import eventually


def effects_table(metadata: MetaData) -> Table:
    """What the tests' handlers write, one row an effect."""
    return Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("incident_id", Uuid, nullable=False),
        Column("note", Text),
    )


def created(incident_id: uuid.UUID | None = None) -> IncidentCreated:
    """A printer on fire, as intake publishes it."""
    return IncidentCreated(
        incident_id=incident_id or uuid.uuid4(),
        title="Printer on fire",
        service="printing",
        category="hardware",
        priority="P1",
        channel="phone",
        reporter="bob",
        created_at=datetime.now(UTC),
    )


def envelope() -> Envelope:
    """A new ``created`` event in its envelope."""
    return Envelope(data=created(), source="/test")


def fetched(topic: str, offset: int, event: Envelope) -> ConsumerRecord:
    """``event`` as a fetch of partition 0 of ``topic`` hands it over at ``offset``."""
    encoded = cloudevents.encode(event)
    return ConsumerRecord(
        topic, 0, offset, 0, 0, encoded.key, encoded.value, None, 0, 0, list(encoded.headers)
    )


@asynccontextmanager
async def database(
    url: str, metadata: MetaData
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """The database at ``url`` with ``metadata``'s tables created: its engine and sessions."""
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield engine, db.session_factory(engine)
    finally:
        await engine.dispose()


async def make_topics(
    bootstrap_servers: str, names: Iterable[str], *, partitions: int, usable: bool = True
) -> None:
    """Creates the topics (a topic's DLQ is made like it, unless it exists); with ``usable``, waits
    until every one of them answers."""
    names = list(names)
    admin = new_admin(bootstrap_servers, "test-admin")
    await admin.start()
    try:
        await ensure_topics(admin, names, partitions=partitions, replication_factor=1)
        if usable:
            await wait_until_usable(admin, names, timeout=30)
    finally:
        await admin.close()


async def make_topic_with_dlq(bootstrap_servers: str, name: str) -> None:
    """A topic of one partition and its DLQ, both usable."""
    await make_topics(bootstrap_servers, [name, topics.dlq(name)], partitions=1)


def consumer(
    bootstrap_servers: str,
    sessions: async_sessionmaker[AsyncSession],
    inbox: Table,
    producer: Any,
    group: str,
    topic: str,
    handlers: dict[Any, Any],
    **options: Any,
) -> EventConsumer:
    """An EventConsumer of ``topic`` retrying fast (2 attempts unless ``options`` say otherwise)."""
    return EventConsumer(
        group_id=group,
        topics=[topic],
        handlers=handlers,
        bootstrap_servers=bootstrap_servers,
        sessions=sessions,
        inbox=inbox,
        producer=producer,
        **{"max_attempts": 2, "retry_initial_seconds": 0.01, "retry_max_seconds": 0.02, **options},
    )


async def read_to_end(bootstrap_servers: str, tps: list[TopicPartition], what: str) -> list[ConsumerRecord]:
    """Every record of the partitions, from their beginning up to their end now."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        # an explicit seek: seek_to_beginning can lose to the reset assign() started
        for tp, start in (await reader.beginning_offsets(tps)).items():
            reader.seek(tp, start)
        found: list[ConsumerRecord] = []

        async def read() -> bool:
            for records in (await reader.getmany(*tps, timeout_ms=200)).values():
                found.extend(records)
            return all([await reader.position(tp) >= ends[tp] for tp in tps])

        await eventually(read, what=what)
        return found
    finally:
        await reader.stop()
