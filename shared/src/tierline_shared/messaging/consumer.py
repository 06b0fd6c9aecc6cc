"""Idempotent Kafka consumer: inbox row + effect in one transaction, offset committed after.

Redelivery is normal: an event id already in the inbox is skipped. A record that
keeps failing after bounded retries goes to ``<topic>.dlq`` with the error, and
the consumer moves on.

Each record is applied inside a CONSUMER span whose parent is the trace context the
event carries (``ce_traceparent``), so what the handler stages continues that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from tierline_shared import tracing
from tierline_shared.errors import DomainError
from tierline_shared.events import topics
from tierline_shared.events.base import Envelope, Event, UnknownEventType, registered_types
from tierline_shared.logging import get_logger
from tierline_shared.messaging import cloudevents
from tierline_shared.metrics import CONSUMER_LAG, EVENTS_CONSUMED, HANDLER_SECONDS

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
_log = get_logger(__name__)
# The headers a record's span reads: its trace context and what names the event.
_SPAN_HEADERS = frozenset({"ce_id", "ce_type", "ce_subject", cloudevents.TRACEPARENT, cloudevents.TRACESTATE})


def is_deterministic(exc: BaseException) -> bool:
    """Fails the same way every time: a domain rule, a contract violation, data PostgreSQL refuses."""
    return isinstance(exc, DomainError | ValidationError | DataError)


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not is_deterministic(exc)


def is_transient(exc: BaseException) -> bool:
    """The database or the network is away; the event itself is fine."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(
        exc, OperationalError | InterfaceError | PoolTimeout | OSError | TimeoutError | KafkaError
    )


class EventConsumer:
    def __init__(
        self,
        *,
        group_id: str,
        topics: list[str],
        handlers: Mapping[type[Event], Handler],
        bootstrap_servers: str,
        sessions: async_sessionmaker[AsyncSession],
        inbox: Table,
        producer: AIOKafkaProducer,
        max_attempts: int = 5,
        retry_initial_seconds: float = 0.05,
        retry_max_seconds: float = 2.0,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.group_id = group_id
        self.topics = topics
        self.handlers = {cls.event_type: fn for cls, fn in handlers.items()}
        # Current contracts this consumer has no handler for: skipped, and not worth a span.
        self._unhandled = frozenset(registered_types().keys() - self.handlers.keys())
        # Dead letters counted from 0 for every topic and type handled here, so alerts on
        # increase() see the first one (a series born at 1 shows no increase).
        for topic in topics:
            for event_type in (*self.handlers, "undecodable"):
                EVENTS_CONSUMED.labels(topic=topic, type=event_type, outcome="dead_lettered")
        self.sessions = sessions
        self.inbox = inbox
        self.producer = producer
        self.max_attempts = max_attempts
        self.retry_initial = retry_initial_seconds
        self.retry_max = retry_max_seconds
        self.after_commit = after_commit
        self.consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        self.started = asyncio.Event()
        self._tracer = trace.get_tracer(__name__)
        self._lag: dict[TopicPartition, Any] = {}  # the gauge's child per assigned partition

    async def start(self) -> None:
        await self.consumer.start()
        self.started.set()

    async def stop(self) -> None:
        await self.consumer.stop()

    async def run(self) -> None:
        pause = self.retry_max
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=200)
            await self._record_lag()
            # first offset not yet applied, per partition of this batch
            pending = {tp: records[0].offset for tp, records in batches.items()}
            try:
                for tp, records in batches.items():
                    await self._process_partition(tp, records, pending)
                pause = self.retry_max
            except Exception as exc:
                # Not done with this batch: rewind, so nothing fetched but unapplied is skipped.
                for tp, offset in pending.items():
                    with contextlib.suppress(Exception):
                        self.consumer.seek(tp, offset)
                if not is_transient(exc):
                    raise
                _log.warning("consumer_waiting_for_dependencies", pause_seconds=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _process_partition(
        self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]], pending: dict[TopicPartition, int]
    ) -> None:
        done: int | None = None
        try:
            for record in records:
                await self.process(record)
                done = pending[tp] = record.offset + 1
        finally:
            if done is not None:
                # Only now are the effects of these records committed in PostgreSQL.
                await self.consumer.commit(
                    {TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(done, "")}
                )

    async def _record_lag(self) -> None:
        """tierline_consumer_lag of each assigned partition, from what the last fetch said (no request)."""
        assigned = self.consumer.assignment()
        for tp in [tp for tp in self._lag if tp not in assigned]:  # revoked: its series goes
            del self._lag[tp]
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self.group_id, tp.topic, str(tp.partition))
        try:
            for tp in assigned:
                highwater = self.consumer.highwater(tp)
                if highwater is None:  # not fetched yet: its position may still be resolving
                    continue
                position = await self.consumer.position(tp)
                gauge = self._lag.get(tp)
                if gauge is None:
                    gauge = self._lag[tp] = CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition))
                gauge.set(max(highwater - position, 0))
        except Exception:  # noqa: BLE001 - a rebalance took a partition meanwhile; a gauge never stops us
            _log.debug("consumer_lag_not_recorded", exc_info=True)

    async def process(self, record: ConsumerRecord[Any, Any]) -> str:
        """Apply one record; returns the outcome (processed, duplicate, ignored, dead_lettered).

        Each record is applied in a CONSUMER span, but for one of a type this consumer has no
        handler for (most records on a shared topic): skipped at once, a span would cost more.
        """
        found: dict[str, str] = {}
        for key, value in record.headers or ():
            if key in _SPAN_HEADERS and isinstance(value, bytes | bytearray):
                found[key] = value.decode("utf-8", "replace")
        if found.get("ce_type") in self._unhandled:  # a known contract with no handler here: not even decoded
            return self._count(record, found["ce_type"], "ignored")
        with self._span(record, found) as span:
            outcome = await self._process(record)
            span.set_attribute("tierline.outcome", outcome)
            return outcome

    def _span(self, record: ConsumerRecord[Any, Any], found: dict[str, str]) -> Any:
        """``process <topic>``, a child of the context the event carries (a new trace without one)."""
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": self.group_id,
        }
        if "ce_id" in found:
            attributes["messaging.message.id"] = found["ce_id"]
        if "ce_type" in found:
            attributes["cloudevents.event_type"] = found["ce_type"]
        if "ce_subject" in found:
            attributes["tierline.incident.id"] = found["ce_subject"]
        parent = tracing.context_from(found.get(cloudevents.TRACEPARENT), found.get(cloudevents.TRACESTATE))
        return self._tracer.start_as_current_span(
            f"process {record.topic}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        )

    async def _process(self, record: ConsumerRecord[Any, Any]) -> str:
        try:
            envelope = cloudevents.decode(record.headers, record.value)
        except UnknownEventType as exc:
            if not str(exc).startswith("tierline."):
                return self._count(record, str(exc), "ignored")
            # One of ours we do not know yet (a newer version deployed first): keep it for replay.
            await self._dead_letter(record, f"unknown event type {exc}; upgrade this consumer and replay")
            return self._count(record, str(exc), "dead_lettered")
        except Exception as exc:  # noqa: BLE001 - a record we cannot read is poison
            await self._dead_letter(record, f"undecodable: {exc}")
            return self._count(record, "undecodable", "dead_lettered")
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return self._count(record, envelope.type, "ignored")
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.max_attempts),
                # never retry a cancellation (shutdown) or what fails the same way every time
                retry=retry_if_exception(is_retryable),
                wait=wait_exponential_jitter(multiplier=self.retry_initial, max=self.retry_max),
                reraise=True,
            ):
                with attempt:
                    outcome = await self._apply(envelope, handler)
        except Exception as exc:
            if is_transient(exc):
                # The database is away, not the event's fault: stop here and retry it later.
                _log.warning("consumer_paused_transient_error", error=f"{type(exc).__name__}: {exc}")
                raise
            _log.exception("event_dead_lettered", event_id=str(envelope.id), type=envelope.type)
            await self._dead_letter(record, f"{type(exc).__name__}: {exc}")
            return self._count(record, envelope.type, "dead_lettered")
        if outcome == "processed" and self.after_commit:
            self.after_commit()
        return self._count(record, envelope.type, outcome)

    async def _apply(self, envelope: Envelope, handler: Handler) -> str:
        started = time.perf_counter()
        async with self.sessions() as session, session.begin():
            inserted = await session.scalar(
                insert(self.inbox)
                .values(consumer=self.group_id, event_id=envelope.id, event_type=envelope.type)
                .on_conflict_do_nothing()
                .returning(self.inbox.c.event_id)
            )
            if inserted is None:
                return "duplicate"
            await handler(session, envelope)
        HANDLER_SECONDS.labels(type=envelope.type).observe(time.perf_counter() - started)
        return "processed"

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: str) -> None:
        trace.get_current_span().set_status(StatusCode.ERROR, error[:200])
        origin = f"{record.topic}/{record.partition}/{record.offset}"
        # The record's own headers stay, its ce_traceparent too: a replay continues the trace.
        headers = [
            *(record.headers or ()),
            ("tierline_dlq_error", error[:2000].encode()),
            ("tierline_dlq_consumer", self.group_id.encode()),
            ("tierline_dlq_origin", origin.encode()),
        ]
        await self.producer.send_and_wait(
            topics.dlq(record.topic), value=record.value, key=record.key, headers=headers
        )

    @staticmethod
    def _count(record: ConsumerRecord[Any, Any], event_type: str, outcome: str) -> str:
        EVENTS_CONSUMED.labels(topic=record.topic, type=event_type, outcome=outcome).inc()
        return outcome
