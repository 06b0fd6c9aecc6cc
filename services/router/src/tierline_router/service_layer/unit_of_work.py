"""The router's unit of work: its repositories over the transaction the edge opened."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction

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

    @classmethod
    def over(cls, work: AsyncSession | RouterUnitOfWork, deps: RouterDeps) -> RouterUnitOfWork:
        """``work`` as a unit of work: callers still holding a bare session get one built on it."""
        return work if isinstance(work, RouterUnitOfWork) else cls(work, deps.outbox)

    async def lock_routing(self) -> None:
        """Routing decisions one at a time, across replicas: queue positions and loads stay true."""
        await self.lock(ROUTING_LOCK)

    def savepoint(self) -> AsyncSessionTransaction:
        self.assignments.sync()  # decided before the savepoint: kept if only its own work rolls back
        return super().savepoint()
