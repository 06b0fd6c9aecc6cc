"""The service layer's view of one transaction: repositories, staged events, locks.

The edge — a request handler or the consumer — opens and commits the transaction
(``Runtime.unit_of_work``) and hands the use case a ``UnitOfWork`` over that session. A
use case loads aggregates through the repositories, calls their methods, saves them and
stages the events they return with ``announce``; it never commits, never builds SQL.
Each service subclasses this with its repositories as attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import advisory_xact_lock, on_commit
from tierline_shared.events.base import Envelope, Event
from tierline_shared.messaging.outbox import Outbox


class UnitOfWork:
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox

    async def announce(self, event: Event) -> Envelope:
        """Stage ``event`` for Kafka; it is published once the transaction commits, never if not."""
        return await self.outbox.add(self.session, event)

    async def announce_many(
        self, events: Sequence[Event], trace_parents: Sequence[str | None] | None = None
    ) -> list[Envelope]:
        return await self.outbox.add_many(self.session, events, trace_parents)

    async def lock(self, key: str) -> None:
        """Serialise with every other transaction locking ``key`` until this one ends."""
        await advisory_xact_lock(self.session, key)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` (a metric, a wake-up) once committed; never for a rolled-back attempt."""
        on_commit(self.session, action)

    def savepoint(self) -> AbstractAsyncContextManager[object]:
        """A nested transaction: ``async with uow.savepoint():`` undoes only its own writes on error."""
        return self.session.begin_nested()

    async def flush(self) -> None:
        await self.session.flush()
