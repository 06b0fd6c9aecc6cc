"""The SLA monitor's unit of work: one transaction's repositories, staged events and locks."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.messaging.outbox import Outbox
from tierline_shared.unit_of_work import UnitOfWork
from tierline_sla_monitor.adapters import catalog
from tierline_sla_monitor.adapters.clocks import ClockRepository
from tierline_sla_monitor.adapters.queries import ClockQueries
from tierline_sla_monitor.adapters.repository import CatalogRepository, IncidentRepository


class SlaUnitOfWork(UnitOfWork):
    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        super().__init__(session, outbox)
        self.clocks = ClockRepository(session)
        self.incidents = IncidentRepository(session)
        self.catalog = CatalogRepository(session)
        self.queries = ClockQueries(session)
        # the catalogs the admin API and the policy file change (tierline_shared.catalog)
        self.policies = catalog.policies(session)
        self.calendars = catalog.calendars(session)
