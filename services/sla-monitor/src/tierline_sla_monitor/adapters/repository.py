"""Reads and writes the monitor's incidents, policies and calendars as domain objects.

Clocks live in ``adapters.clocks``, the read-only reports in ``adapters.queries``, the catalogs
the admin API and the policy file change in ``adapters.catalog``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.catalog.versions import Versioned
from tierline_shared.db import Repository
from tierline_sla_monitor.adapters.orm import CalendarRow, CatalogVersionRow, IncidentRow, PolicyRow
from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.incident import Incident
from tierline_sla_monitor.domain.policy import DEFAULT_POLICIES, SlaPolicy


def calendar_of(row: CalendarRow) -> Calendar:
    return Calendar.model_validate({**row.spec, "name": row.name})


def policy_of(row: PolicyRow) -> SlaPolicy:
    return SlaPolicy.model_validate({**row.spec, "name": row.name})


async def policy_rows(session: AsyncSession) -> list[PolicyRow]:
    """SLA policies in match order."""
    return list((await session.scalars(select(PolicyRow).order_by(PolicyRow.rank, PolicyRow.name))).all())


async def load_catalog(session: AsyncSession) -> Catalog:
    """The catalog built from its rows (read-only: a process keeps it while its version holds)."""
    calendars = (await session.scalars(select(CalendarRow).order_by(CalendarRow.name))).all()
    policies = await policy_rows(session)
    return Catalog(
        calendars=tuple(calendar_of(c) for c in calendars),
        # before the policy file is first applied, the defaults hold (every priority has a target)
        policies=tuple(policy_of(p) for p in policies) or tuple(DEFAULT_POLICIES),
    )


CATALOG = Versioned(select(CatalogVersionRow.version).where(CatalogVersionRow.id == 1), load_catalog)


async def current_catalog(session: AsyncSession) -> Catalog:
    """The catalog as this transaction sees it, built from the rows once per version."""
    return await CATALOG.current(session)


async def incident(session: AsyncSession, incident_id: uuid.UUID) -> IncidentRow:
    """The incident's row, locked (created empty on first sight: events may arrive in any order)."""
    await session.execute(insert(IncidentRow).values(incident_id=incident_id).on_conflict_do_nothing())
    row = await session.scalar(
        select(IncidentRow).where(IncidentRow.incident_id == incident_id).with_for_update()
    )
    assert row is not None
    return row


class CatalogRepository:
    """The policies and calendars in force, for the clocks' use cases (changed by the catalog API)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self) -> Catalog:
        return await current_catalog(self.session)


class IncidentRepository(Repository[IncidentRow]):
    model = IncidentRow
    what = "incident"

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._rows: dict[uuid.UUID, IncidentRow] = {}

    async def lock(self, incident_id: uuid.UUID) -> Incident:
        """The incident, locked for this transaction (known empty from the first event about it)."""
        row = self._rows[incident_id] = await incident(self.session, incident_id)
        return Incident(
            incident_id=row.incident_id,
            priority=row.priority,
            service=row.service,
            customer=row.customer,
            type=row.type,
            policy=row.policy,
            tier=row.tier,
            hold_reason=row.hold_reason,
            closed_at=row.closed_at,
        )

    def save(self, incident: Incident) -> None:
        row = self._rows[incident.incident_id]
        row.priority, row.service, row.customer = incident.priority, incident.service, incident.customer
        row.type = incident.type
        row.policy, row.tier, row.hold_reason = incident.policy, incident.tier, incident.hold_reason
        row.closed_at = incident.closed_at
