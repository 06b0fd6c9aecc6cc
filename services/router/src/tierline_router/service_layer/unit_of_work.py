"""The router's unit of work: its repositories over the transaction the edge opened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import catalog, schedules
from tierline_router.adapters.assignments import AssignmentRepository
from tierline_router.adapters.catalog import CatalogRepository
from tierline_router.adapters.vendors import VendorDirectory
from tierline_router.domain.model import VendorRule
from tierline_shared.clock import Clock
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.unit_of_work import UnitOfWork

ROUTING_LOCK = "tierline.router.routing"


@dataclass(frozen=True)
class RouterDeps:
    outbox: Outbox
    clock: Clock
    vendors: list[VendorRule]


class RouterUnitOfWork(UnitOfWork):
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.assignments = AssignmentRepository(session)
        self.catalog = CatalogRepository(session)
        self.vendors = VendorDirectory(session)
        # the configuration catalogs the admin API and the policy file change (tierline_shared.catalog)
        self.agents = catalog.agents(session)
        self.queues = catalog.queues(session)
        self.policies = catalog.policies(session)
        self.schedules = schedules.schedules(session)
        self.schedule_store = schedules.ScheduleStore(session)

    def now(self) -> datetime:
        """The time by the clock events are stamped with (the deps' clock)."""
        return self.outbox.clock.now()

    async def lock_routing(self) -> None:
        """Routing decisions one at a time, across replicas: queue positions and loads stay true."""
        await self.lock(ROUTING_LOCK)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[object]:
        self.assignments.sync()  # decided before the savepoint: kept if only its own work rolls back
        try:
            async with self.session.begin_nested() as nested:
                yield nested
        except BaseException:
            await self.assignments.restore()  # the aggregates say again what their rows say
            raise
