"""Transactional outbox: events are stored with the state change, then relayed to Kafka.

No request handler or consumer publishes directly; they call ``add_event`` inside
their unit of work, and the relay publishes committed rows with acks=all. Each row keeps
the trace context it was staged in (``ce_traceparent``), so its consumers continue that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared import db, tracing
from tierline_shared.clock import Clock, SystemClock
from tierline_shared.events.base import Envelope, Event
from tierline_shared.logging import get_logger
from tierline_shared.messaging import cloudevents
from tierline_shared.metrics import EVENTS_PUBLISHED, OUTBOX_LAG

_log = get_logger(__name__)


class Outbox:
    """Writes events into a service's outbox table within the caller's transaction."""

    def __init__(self, table: Table, source: str, clock: Clock | None = None) -> None:
        self.table = table
        self.source = source
        self.clock = clock or SystemClock()

    async def add(self, session: AsyncSession, event: Event) -> Envelope:
        [envelope] = await self.add_many(session, [event])
        return envelope

    async def add_many(
        self,
        session: AsyncSession,
        events: Sequence[Event],
        trace_parents: Sequence[str | None] | None = None,
    ) -> list[Envelope]:
        """Stage several events in one INSERT (a poller's batch costs one round trip, not one per event).

        Each event carries the current trace context, or the one ``trace_parents`` gives for it: a
        timer firing long after the event that armed it continues that event's trace.
        """
        if not events:
            return []
        envelopes = [Envelope(data=event, source=self.source, time=self.clock.now()) for event in events]
        current = [[k, v.decode()] for k, v in tracing.event_headers()]  # one context for the batch
        parents = trace_parents or [None] * len(events)
        rows = []
        for envelope, parent in zip(envelopes, parents, strict=True):
            trace_headers = [[k, v.decode()] for k, v in tracing.headers_for(parent)] if parent else current
            record = cloudevents.encode(envelope)
            rows.append(
                {
                    "event_id": envelope.id,
                    "topic": record.topic,
                    "key": record.key.decode(),
                    "event_type": envelope.type,
                    "headers": [*([k, v.decode()] for k, v in record.headers), *trace_headers],
                    "value": record.value,
                }
            )
        if session.info.get(_DEFERRED):
            for row in rows:
                db.stage(session, _ROWS, (self.table, row))
        else:
            # executemany of one compiled statement: a multi-row VALUES would be compiled anew each time
            await session.execute(insert(self.table), rows)
        return envelopes


def defer_rows(session: AsyncSession) -> None:
    """From now on, what ``Outbox.add_many`` stages in ``session`` waits for ``write_deferred``.

    A consumer's batch stages many events in one transaction: written together just before the
    commit, they cost one round trip instead of one per event. A row staged in a savepoint that
    rolls back is dropped with it, as if it had been written there.
    """
    session.info[_DEFERRED] = True


async def write_deferred(session: AsyncSession) -> None:
    """Write the rows deferred so far, in staging order (their ``seq``), one executemany per table."""
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, row in db.take_staged(session, _ROWS):
        by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        await session.execute(insert(table), rows)


_DEFERRED = "tierline.outbox.deferred"
_ROWS = "outbox_rows"


class OutboxRelay:
    """Publishes unpublished outbox rows in order, then marks them sent.

    One relay at a time per database holds a transaction-scoped advisory lock, so
    replicas never publish the same rows concurrently and per-key order is kept.
    A crash between publish and mark re-publishes; consumers are idempotent.
    """

    def __init__(
        self,
        table: Table,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        idle_seconds: float = 0.2,
        topic_prefix: str = "",
    ) -> None:
        self.table = table
        self.sessions = sessions
        self.producer = producer
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.topic_prefix = topic_prefix
        self._wakeup = asyncio.Event()
        self._lock_key = zlib.crc32(f"tierline-outbox:{table.name}".encode())

    def wake(self) -> None:
        """Tell the relay new rows were committed, so it need not wait for its next poll."""
        self._wakeup.set()

    async def publish_batch(self) -> int:
        t = self.table
        async with self.sessions() as session, session.begin():
            locked = await session.scalar(select(func.pg_try_advisory_xact_lock(self._lock_key)))
            if not locked:
                return 0
            rows = (
                await session.execute(
                    select(
                        t.c.seq, t.c.topic, t.c.key, t.c.headers, t.c.value, t.c.event_type, t.c.created_at
                    )
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            futures = [
                await self.producer.send(
                    self.topic_prefix + row.topic,
                    value=row.value,
                    key=row.key.encode(),
                    headers=[(k, v.encode()) for k, v in row.headers],
                )
                for row in rows
            ]
            await asyncio.gather(*futures)
            await session.execute(
                update(t).where(t.c.seq.in_([r.seq for r in rows])).values(published_at=func.now())
            )
        for row in rows:
            EVENTS_PUBLISHED.labels(topic=row.topic, type=row.event_type).inc()
        return len(rows)

    async def run(self) -> None:
        backoff = self.idle_seconds
        while True:
            try:
                published = await self.publish_batch()
                backoff = self.idle_seconds
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; the loop must survive Kafka outages
                _log.exception("outbox_publish_failed")
                published = 0
                backoff = min(backoff * 2, 5.0)
            if published >= self.batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), backoff)
            self._wakeup.clear()

    async def pending(self) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(self.table).where(self.table.c.published_at.is_(None))
            )
        OUTBOX_LAG.set(count or 0)
        return int(count or 0)
