"""Idempotent Kafka consumer: a partition's fetched records applied in one transaction, offset after.

Redelivery is normal: an event id already in the inbox is skipped. An event that keeps
failing after bounded retries is undone alone, inbox row included (``batch``), and goes to
``<topic>.dlq`` with the error once the batch has committed, while the rest of the batch
stays; only then is the partition's offset committed. When the database or Kafka is away,
or PostgreSQL picks the batch as a deadlock victim, the whole batch is rolled back and
fetched again.

Each record is applied inside a CONSUMER span whose parent is the trace context the event
carries (``ce_traceparent``), so what the handler stages continues that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import RetryCallState, wait_exponential_jitter

from tierline_shared import tracing
from tierline_shared.events import topics
from tierline_shared.events.base import Envelope, Event, UnknownEventType, registered_types
from tierline_shared.logging import get_logger
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.batch import BatchApplier, Handler, Item
from tierline_shared.messaging.failures import is_conflict, is_deterministic, is_retryable, is_transient
from tierline_shared.metrics import CONSUMER_LAG, EVENTS_CONSUMED, HANDLER_SECONDS

__all__ = ["EventConsumer", "Handler", "is_conflict", "is_deterministic", "is_retryable", "is_transient"]

_log = get_logger(__name__)
# The headers a record's span reads: its trace context and what names the event.
_SPAN_HEADERS = frozenset({"ce_id", "ce_type", "ce_subject", cloudevents.TRACEPARENT, cloudevents.TRACESTATE})
FETCH_RECORDS = 200


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
        max_batch: int = FETCH_RECORDS,
        lock_key: Callable[[Envelope], str | None] | None = None,
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
        self.max_batch = max(1, max_batch)  # events per transaction
        self._wait = wait_exponential_jitter(multiplier=retry_initial_seconds, max=retry_max_seconds)
        self._batches = BatchApplier(
            group_id=group_id,
            sessions=sessions,
            inbox=inbox,
            max_attempts=max_attempts,
            backoff=self._backoff,
            span_for=self._span,
            lock_key=lock_key,
        )
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
        conflicts = 0
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=FETCH_RECORDS)
            await self._record_lag()
            # first offset not yet applied, per partition of this batch
            pending = {tp: records[0].offset for tp, records in batches.items()}
            try:
                for tp, records in batches.items():
                    await self._process_partition(tp, records, pending)
                pause, conflicts = self.retry_max, 0
            except Exception as exc:
                # Not done with this batch: rewind, so nothing fetched but unapplied is skipped.
                for tp, offset in pending.items():
                    with contextlib.suppress(Exception):
                        self.consumer.seek(tp, offset)
                if is_conflict(exc):  # lost a lock race with another replica: go again soon
                    conflicts += 1
                    wait = self._backoff(conflicts)
                    _log.info(
                        "consumer_batch_conflict",
                        error=type(getattr(exc, "orig", exc)).__name__,
                        pause_seconds=wait,
                    )
                    await asyncio.sleep(wait)
                    continue
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
            for start in range(0, len(records), self.max_batch):
                batch = records[start : start + self.max_batch]
                await self.process_batch(batch)
                done = pending[tp] = batch[-1].offset + 1
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
        """Apply one record alone; returns the outcome (processed, duplicate, ignored, dead_lettered)."""
        [outcome] = await self.process_batch([record])
        return outcome

    async def process_batch(self, records: list[ConsumerRecord[Any, Any]]) -> list[str]:
        """Apply records of one partition in one transaction; their outcomes, in order.

        Committed, then dead letters sent, before this returns; the caller commits the offset.
        Raises, with nothing committed, when the batch must be fetched again (a transient
        failure or a conflict). A record of a type this consumer has no handler for (most
        records on a shared topic) is skipped at once: a span would cost more.
        """
        items = [self._read(record) for record in records]
        try:
            todo = [item for item in items if item.outcome is None]
            if todo:
                await self._batches.apply(todo)
            await self._settle(items)
        except BaseException:
            for item in items:  # rolled back: their spans end without an outcome
                if item.span is not None:
                    item.span.end()
            raise
        return [item.outcome or "" for item in items]

    def _read(self, record: ConsumerRecord[Any, Any]) -> Item:
        """Decode a record and find its handler; what needs no transaction gets its outcome here."""
        found: dict[str, str] = {}
        for key, value in record.headers or ():
            if key in _SPAN_HEADERS and isinstance(value, bytes | bytearray):
                found[key] = value.decode("utf-8", "replace")
        item = Item(record, found)
        if found.get("ce_type") in self._unhandled:  # a known contract with no handler here: not even decoded
            item.event_type, item.outcome, item.traced = found["ce_type"], "ignored", False
            return item
        try:
            envelope = cloudevents.decode(record.headers, record.value)
        except UnknownEventType as exc:
            item.event_type, item.outcome = str(exc), "ignored"
            if str(exc).startswith("tierline."):
                # One of ours we do not know yet (a newer version deployed first): keep it for replay.
                item.outcome = "dead_lettered"
                item.error = f"unknown event type {exc}; upgrade this consumer and replay"
            return item
        except Exception as exc:  # noqa: BLE001 - a record we cannot read is poison
            item.event_type, item.outcome, item.error = "undecodable", "dead_lettered", f"undecodable: {exc}"
            return item
        item.event_type, item.envelope = envelope.type, envelope
        item.handler = self.handlers.get(envelope.type)
        if item.handler is None:
            item.outcome = "ignored"
        return item

    async def _settle(self, items: list[Item]) -> None:
        """After the commit: metrics, after_commit, dead letters, spans; in the records' order."""
        for item in items:
            if item.outcome == "processed":
                HANDLER_SECONDS.labels(type=item.event_type).observe(item.seconds)
                if self.after_commit:
                    self.after_commit()
        for item in items:
            span = item.span
            if span is None and item.traced:
                span = item.span = self._span(item)
            if item.outcome == "dead_lettered":
                await self._dead_letter(item.record, item.error, span)
            EVENTS_CONSUMED.labels(topic=item.record.topic, type=item.event_type, outcome=item.outcome).inc()
            if span is not None:
                span.set_attribute("tierline.outcome", item.outcome or "")
                item.span = None
                span.end()

    def _span(self, item: Item) -> Span:
        """``process <topic>``, a child of the context the event carries (a new trace without one)."""
        record, found = item.record, item.found
        attributes: dict[str, Any] = {
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
        return self._tracer.start_span(
            f"process {record.topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )

    def _backoff(self, attempt: int) -> float:
        """The pause after the ``attempt``-th failed try: exponential, with jitter, bounded."""
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # the wait reads attempt_number only
        state.attempt_number = attempt
        return float(self._wait(state))

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], error: str, span: Span | None) -> None:
        if span is not None:
            span.set_status(StatusCode.ERROR, error[:200])
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
