"""The gateway's unit of work: one transaction's repositories, handed to every use case."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.messaging.outbox import Outbox
from tierline_shared.unit_of_work import UnitOfWork
from tierline_vendor_gateway.adapters import registry
from tierline_vendor_gateway.adapters.queries import Queries
from tierline_vendor_gateway.adapters.repository import (
    AttemptLog,
    BriefRepository,
    CaseRepository,
    DeliveryRepository,
    SeenCallbacks,
)


class GatewayUnitOfWork(UnitOfWork):
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.cases = CaseRepository(session)
        self.deliveries = DeliveryRepository(session, self.cases)
        self.attempts = AttemptLog(session)
        self.briefs = BriefRepository(session)
        self.callbacks = SeenCallbacks(session)
        self.queries = Queries(session)
        # the vendor registry: the vendors (tierline_shared.catalog) and their endpoints' state
        self.vendors = registry.vendors(session)
        self.vendor_states = registry.VendorStates(session)
