"""A trace through outbox, Kafka and consumer; dead letters keep it; consumer lag. Real servers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import db, tracing
from tierline_shared.errors import DomainError
from tierline_shared.events import Envelope, IncidentAcknowledged, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer
from tierline_shared.messaging.outbox import Outbox, OutboxRelay
from tierline_shared.messaging.tables import messaging_tables
from tierline_shared.testing import eventually

from . import messaging_support as support
from .messaging_support import created as _created

pytestmark = pytest.mark.integration

metadata = db.new_metadata()
outbox_table, inbox_table = messaging_tables(metadata)


@pytest.fixture
async def sessions(new_database, spans: InMemorySpanExporter) -> AsyncIterator:
    engine = db.create_engine(new_database("tracing"))
    tracing.instrument_engine(engine)  # the spans fixture configured tracing first
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield db.session_factory(engine)
    await engine.dispose()


async def _make_topics(infra, *names: str, partitions: int = 3) -> None:
    await support.make_topics(infra.bootstrap_servers, names, partitions=partitions, usable=False)


def _consumer(infra, sessions, producer, unique: str, topic: str, handlers: dict) -> EventConsumer:
    return support.consumer(
        infra.bootstrap_servers, sessions, inbox_table, producer, f"g-{unique}", topic, handlers
    )


async def _running(consumer: EventConsumer) -> asyncio.Task:
    await consumer.start()
    return asyncio.create_task(consumer.run())


async def _stop(consumer: EventConsumer, task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await consumer.stop()


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def _staged_headers(sessions, event_id: uuid.UUID) -> dict[str, str]:
    async with sessions() as session:
        headers = await session.scalar(
            select(outbox_table.c.headers).where(outbox_table.c.event_id == event_id)
        )
    return dict(headers)


async def test_a_consumer_continues_the_trace_of_the_request_that_staged_the_event(
    infra, sessions, producer, spans: InMemorySpanExporter, unique: str
) -> None:
    prefix = f"t-{unique}."
    await _make_topics(infra, prefix + topics.INCIDENTS)
    outbox = Outbox(outbox_table, source="/tierline/test")
    relay = OutboxRelay(outbox_table, sessions, producer, topic_prefix=prefix)
    acknowledged: list[Envelope] = []

    async def acknowledge(session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(select(outbox_table.c.seq).limit(1))  # the handler's own SQL
        # what a handler stages continues the trace of the event it handles
        ack = IncidentAcknowledged(incident_id=envelope.data.incident_id, acknowledged_at=datetime.now(UTC))
        acknowledged.append(await outbox.add(session, ack))

    # Staged outside any request or event: no trace context, and the poller's SQL makes no spans.
    async with sessions() as session, session.begin():
        untraced = await outbox.add(session, _created())
    assert cloudevents.TRACEPARENT not in await _staged_headers(sessions, untraced.id)
    assert spans.get_finished_spans() == ()

    created = _created()
    with trace.get_tracer("tests").start_as_current_span("POST /v1/incidents", kind=SpanKind.SERVER):
        async with sessions() as session, session.begin():
            staged = await outbox.add(session, created)
    [request] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/incidents"]
    ids = request.context
    assert (await _staged_headers(sessions, staged.id))[cloudevents.TRACEPARENT] == (
        f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"
    )
    [insert] = _children(list(spans.get_finished_spans()), request)
    assert insert.kind == SpanKind.CLIENT and insert.name.startswith("INSERT ")
    assert insert.attributes["db.system.name"] == "postgresql"
    assert insert.attributes["db.query.text"].startswith("INSERT INTO outbox")

    consumer = _consumer(
        infra, sessions, producer, unique, prefix + topics.INCIDENTS, {IncidentCreated: acknowledge}
    )
    task = await _running(consumer)
    try:
        assert await relay.publish_batch() == 2

        def settled() -> bool:  # handled, committed and its span ended with the outcome (after the commit)
            return len(acknowledged) == 2 and any(
                s.attributes.get("messaging.message.id") == str(staged.id)
                and "tierline.outcome" in s.attributes
                for s in spans.get_finished_spans()
                if s.kind == SpanKind.CONSUMER and s.attributes is not None
            )

        await eventually(settled, what="both events handled and the traced one's span ended")
    finally:
        await _stop(consumer, task)

    finished = list(spans.get_finished_spans())
    processed = [s for s in finished if s.kind == SpanKind.CONSUMER]
    [traced] = [s for s in processed if s.attributes["messaging.message.id"] == str(staged.id)]
    assert traced.name == f"process {prefix}{topics.INCIDENTS}"
    assert traced.context.trace_id == ids.trace_id
    assert traced.parent is not None and traced.parent.span_id == ids.span_id and traced.parent.is_remote
    assert traced.attributes["messaging.system"] == "kafka"
    assert traced.attributes["messaging.destination.name"] == prefix + topics.INCIDENTS
    assert traced.attributes["messaging.consumer.group.name"] == f"g-{unique}"
    assert traced.attributes["tierline.incident.id"] == str(created.incident_id)
    assert traced.attributes["cloudevents.event_type"] == created.event_type
    assert traced.attributes["tierline.outcome"] == "processed"
    assert isinstance(traced.attributes["messaging.kafka.offset"], int)
    assert traced.attributes["messaging.destination.partition.id"].isdigit()
    # its handler's SQL sits under it; the batch's bookkeeping (its inbox rows, and the events its
    # handlers staged, each written in one statement for the whole batch), like COMMIT, is no one
    # event's SQL
    statements = [s.attributes["db.query.text"] for s in _children(finished, traced)]
    assert len(statements) == 1 and statements[0].startswith("SELECT outbox.seq")
    # and the event the handler staged names the consumer span as its parent: the trace goes on
    [ack] = [a for a in acknowledged if a.subject == str(created.incident_id)]
    span_ids = traced.context
    assert (await _staged_headers(sessions, ack.id))[cloudevents.TRACEPARENT] == (
        f"00-{span_ids.trace_id:032x}-{span_ids.span_id:016x}-{span_ids.trace_flags:02x}"
    )
    # the event staged outside any trace starts a trace of its own
    [own] = [s for s in processed if s.attributes["messaging.message.id"] == str(untraced.id)]
    assert own.parent is None and own.context.trace_id != ids.trace_id


async def test_a_dead_lettered_record_keeps_its_trace_context(
    infra, sessions, producer, spans: InMemorySpanExporter, unique: str
) -> None:
    topic = f"test.tracing-dlq.{unique}"
    await _make_topics(infra, topic)

    async def refuse(session: AsyncSession, envelope: Envelope) -> None:
        raise DomainError("cannot apply this one")

    consumer = _consumer(infra, sessions, producer, unique, topic, {IncidentCreated: refuse})
    envelope = Envelope(data=_created(), source="/test")
    record = cloudevents.encode(envelope)
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = [*record.headers, (cloudevents.TRACEPARENT, traceparent), (cloudevents.TRACESTATE, b"x=1")]
    await producer.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
    task = await _running(consumer)
    dlq = AIOKafkaConsumer(
        topics.dlq(topic), bootstrap_servers=infra.bootstrap_servers, auto_offset_reset="earliest"
    )
    await dlq.start()
    dead: list = []

    async def read_dlq() -> bool:
        for records in (await dlq.getmany(timeout_ms=200)).values():
            dead.extend(records)
        return bool(dead)

    try:
        await eventually(read_dlq, what="the record dead-lettered")
    finally:
        await dlq.stop()
        await _stop(consumer, task)
    dead_headers = dict(dead[0].headers)
    assert dead_headers[cloudevents.TRACEPARENT] == traceparent
    assert dead_headers[cloudevents.TRACESTATE] == b"x=1"
    [span] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert span.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["tierline.outcome"] == "dead_lettered"


async def test_consumer_lag_counts_what_is_fetched_behind_the_position(
    infra, sessions, producer, unique: str
) -> None:
    topic = f"test.lag.{unique}"
    await _make_topics(infra, topic, partitions=1)
    gate = asyncio.Event()
    handled = 0

    async def slow(session: AsyncSession, envelope: Envelope) -> None:
        nonlocal handled
        await gate.wait()
        handled += 1

    for _ in range(250):  # more than one fetch (200 records) holds
        record = cloudevents.encode(Envelope(data=_created(), source="/test"))
        await producer.send(topic, value=record.value, key=record.key, headers=record.headers)
    await producer.flush()
    consumer = _consumer(infra, sessions, producer, unique, topic, {IncidentCreated: slow})
    labels = {"group": f"g-{unique}", "topic": topic, "partition": "0"}

    def lag() -> float | None:
        return REGISTRY.get_sample_value("tierline_consumer_lag", labels)

    task = await _running(consumer)
    try:
        behind = await eventually(lambda: lag(), timeout=20, what="lag reported while the handler waits")
        assert 0 < behind <= 250
        gate.set()
        await eventually(lambda: handled == 250, timeout=60, what="all records handled")
        await eventually(lambda: lag() == 0, what="lag back to zero")
    finally:
        gate.set()
        await _stop(consumer, task)


async def test_a_failing_statement_ends_its_span_as_an_error(sessions, spans: InMemorySpanExporter) -> None:
    with pytest.raises(DBAPIError), trace.get_tracer("tests").start_as_current_span("request"):
        async with sessions() as session:
            await session.execute(text("SELECT 1 / 0"))
    [failed] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert failed.name.startswith("SELECT ")
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"]
