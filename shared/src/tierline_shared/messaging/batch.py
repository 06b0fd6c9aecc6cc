"""A partition's batch in one transaction: each event's inbox row and effect, retried alone or dead-lettered.

The batch's inbox rows are written in one statement first (the events not seen before are
applied; the others are duplicates), the per-incident locks its handlers take are taken in one
statement too (``lock_key``), and the events the handlers stage are written in one INSERT just
before the commit (``outbox.defer_rows``): a round trip each per batch, not per event.

Usually the events are applied one after the other in the batch's transaction, without
savepoints (a SAVEPOINT and its RELEASE would double the statements an event costs, and
asyncpg prepares each one anew: SQLAlchemy names every savepoint differently). When one
fails, that transaction is rolled back and the batch applied again with each event in a
SAVEPOINT of its own: the failing event alone is retried, then dead-lettered with its inbox
row undone, while the others are applied once. A transient failure or a conflict (deadlock,
serialization failure) rolls the whole batch back and raises: it is fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from sqlalchemy import ARRAY, Table, Text, Uuid, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Delete, ReturningInsert

from tierline_shared.db import advisory_xact_locks
from tierline_shared.events.base import Envelope
from tierline_shared.logging import get_logger
from tierline_shared.messaging import outbox
from tierline_shared.messaging.failures import is_conflict, is_deterministic, is_transient

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]
_log = get_logger("tierline_shared.messaging.consumer")  # the consumer's log lines, as before


@dataclass(slots=True)
class Item:
    """One fetched record on its way through a batch."""

    record: ConsumerRecord[Any, Any]
    found: dict[str, str]  # the headers its span reads
    event_type: str = ""  # the metric's label
    outcome: str | None = None  # processed, duplicate, ignored, dead_lettered; None: still to apply
    envelope: Envelope | None = None
    handler: Handler | None = None
    error: str = ""  # why it is dead-lettered
    seconds: float = 0.0  # its handler's time, observed once committed
    traced: bool = True  # in a span of its own: all but those skipped on their headers
    span: Span | None = None


class BatchApplier:
    """Applies a batch's events in one transaction, committed when ``apply`` returns."""

    def __init__(
        self,
        *,
        group_id: str,
        sessions: async_sessionmaker[AsyncSession],
        inbox: Table,
        max_attempts: int,
        backoff: Callable[[int], float],
        span_for: Callable[[Item], Span],
        lock_key: Callable[[Envelope], str | None] | None = None,
    ) -> None:
        self.group_id = group_id
        # the advisory lock an event's handler takes, if any: the batch takes them all up front
        self.lock_key = lock_key
        self.sessions = sessions
        self.inbox = inbox
        self.max_attempts = max_attempts
        self.backoff = backoff  # the pause after the n-th failed try
        self.span_for = span_for

    @functools.cached_property
    def _record(self) -> ReturningInsert[Any]:
        """The batch's events into the inbox, in one statement; it returns those not there before."""
        events = (
            func.unnest(bindparam("ids", type_=ARRAY(Uuid)), bindparam("types", type_=ARRAY(Text)))
            .table_valued("id", "type")
            .render_derived(name="e")
        )
        return (
            insert(self.inbox)
            .from_select(
                ["consumer", "event_id", "event_type"],
                select(bindparam("consumer", type_=Text), events.c.id, events.c.type),
            )
            .on_conflict_do_nothing()
            .returning(self.inbox.c.event_id)
        )

    @functools.cached_property
    def _forget(self) -> Delete:
        """A dead-lettered event's inbox row, undone: a replay applies it."""
        return delete(self.inbox).where(
            self.inbox.c.consumer == bindparam("consumer"), self.inbox.c.event_id == bindparam("id")
        )

    async def apply(self, todo: list[Item]) -> None:
        """Give each item its outcome: processed, duplicate or dead_lettered (then with its error)."""
        try:
            await self._transact(todo, careful=False)
        except _Redo as redo:
            await self._transact(todo, careful=True, failed=(redo.item, redo.error))

    async def _transact(
        self, todo: list[Item], *, careful: bool, failed: tuple[Item, Exception] | None = None
    ) -> None:
        """One transaction applying ``todo`` in order; each event in a savepoint when ``careful``.

        Not careful, an event's failure raises _Redo, which rolls the transaction back.
        """
        async with self.sessions() as session, session.begin():
            outbox.defer_rows(session)
            if self.lock_key is not None:
                keys = [self.lock_key(item.envelope) for item in todo if item.envelope is not None]
                with _untraced():
                    await advisory_xact_locks(session, [key for key in keys if key is not None])
            with _untraced():
                new = await self._inbox(session, todo)
            for item in todo:
                assert item.envelope is not None
                if item.envelope.id not in new:
                    item.outcome = "duplicate"  # applied before, or earlier in this batch
                    continue
                new.discard(item.envelope.id)
                error = failed[1] if failed is not None and failed[0] is item else None
                await self._apply(session, item, careful=careful, failed=error)
                if item.outcome == "dead_lettered":
                    with _untraced():  # undone with its effects: a replay applies it
                        await session.execute(
                            self._forget, {"consumer": self.group_id, "id": item.envelope.id}
                        )
            with _untraced():  # the batch's events: one INSERT, their trace context in their headers
                await outbox.write_deferred(session)

    async def _apply(
        self, session: AsyncSession, item: Item, *, careful: bool, failed: Exception | None
    ) -> None:
        """One event in its span (its SQL and what it stages continue the event's trace)."""
        if item.span is None:
            item.span = self.span_for(item)
        span = item.span
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            try:
                await self._tries(session, item, careful=careful, failed=failed)
            except _Redo:
                raise  # not this span's failure yet: it is tried again
            except BaseException as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise

    async def _tries(
        self, session: AsyncSession, item: Item, *, careful: bool, failed: Exception | None
    ) -> None:
        """Up to max_attempts tries, ``failed`` being the first one's error if it was made already."""
        attempt, error = (0, None) if failed is None else (1, failed)
        while True:
            if error is not None:
                if is_deterministic(error) or attempt >= self.max_attempts:
                    event_id = str(item.envelope.id) if item.envelope else None
                    _log.error("event_dead_lettered", event_id=event_id, type=item.event_type, exc_info=error)
                    item.outcome, item.error = "dead_lettered", f"{type(error).__name__}: {error}"
                    return
                await asyncio.sleep(self.backoff(attempt))
            attempt += 1
            started = time.perf_counter()
            try:
                item.outcome = await self._attempt(session, item, savepoint=careful)
            except Exception as exc:
                if is_transient(exc):
                    # The database is away, not the event's fault: stop here and retry it later.
                    _log.warning("consumer_paused_transient_error", error=f"{type(exc).__name__}: {exc}")
                    raise
                if is_conflict(exc):
                    raise  # lost a lock race: the whole batch goes again, from Kafka
                if not careful:
                    raise _Redo(item, exc) from exc
                error = exc
                continue
            item.seconds = time.perf_counter() - started
            return

    async def _attempt(self, session: AsyncSession, item: Item, *, savepoint: bool) -> str:
        """The event's effect: kept, or undone (with the batch, or with the savepoint)."""
        assert item.envelope is not None and item.handler is not None
        if not savepoint:
            try:
                return await self._handle(session, item.envelope, item.handler)
            finally:
                session.expunge_all()  # each event starts from the database, as in a transaction of its own
        with _untraced():  # like BEGIN and COMMIT, the batch's bookkeeping is no event's SQL
            nested = await session.begin_nested()
            await session.connection()  # emits the SAVEPOINT
        try:
            outcome = await self._handle(session, item.envelope, item.handler)
        except Exception:
            with _untraced():
                await nested.rollback()
            raise
        finally:
            session.expunge_all()
        with _untraced():
            await nested.commit()
        return outcome

    async def _inbox(self, session: AsyncSession, todo: list[Item]) -> set[uuid.UUID]:
        """Record the batch's events in the inbox, in one statement: the ids not seen before."""
        events = {item.envelope.id: item.envelope.type for item in todo if item.envelope is not None}
        result = await session.execute(
            self._record, {"consumer": self.group_id, "ids": list(events), "types": list(events.values())}
        )
        return set(result.scalars())

    async def _handle(self, session: AsyncSession, envelope: Envelope, handler: Handler) -> str:
        await handler(session, envelope)
        await session.flush()  # what fails at the flush fails this event, not the next one
        return "processed"


class _Redo(Exception):
    """An event failed in a batch applied without savepoints: roll back, apply it carefully."""

    def __init__(self, item: Item, error: Exception) -> None:
        super().__init__(str(error))
        self.item, self.error = item, error


@contextlib.contextmanager
def _untraced() -> Iterator[None]:
    """No current span: the statements run here make no SQL spans."""
    token = otel_context.attach(otel_context.Context())
    try:
        yield
    finally:
        otel_context.detach(token)
