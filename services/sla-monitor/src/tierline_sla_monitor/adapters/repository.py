"""Reads the monitor's policies, calendars and incidents as domain objects."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_sla_monitor.adapters.orm import CalendarRow, IncidentRow, PolicyRow
from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.policy import (
    DEFAULT_POLICIES,
    SlaPolicy,
    Subject,
    calendar_named,
    policy_for,
)


@dataclass(frozen=True)
class Catalog:
    """Calendars and policies (in matching order) as one snapshot, read inside the caller's transaction."""

    calendars: list[Calendar]
    policies: list[SlaPolicy]

    def calendar(self, name: str | None) -> Calendar:
        return calendar_named(self.calendars, name)

    def policy(self, name: str | None) -> SlaPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def policy_for(self, subject: Subject) -> SlaPolicy:
        return policy_for(self.policies, subject)


def calendar_of(row: CalendarRow) -> Calendar:
    return Calendar.model_validate({**row.spec, "name": row.name})


def policy_of(row: PolicyRow) -> SlaPolicy:
    return SlaPolicy.model_validate({**row.spec, "name": row.name})


async def policy_rows(session: AsyncSession) -> list[PolicyRow]:
    """SLA policies in match order."""
    return list((await session.scalars(select(PolicyRow).order_by(PolicyRow.rank, PolicyRow.name))).all())


async def load_catalog(session: AsyncSession) -> Catalog:
    calendars = (await session.scalars(select(CalendarRow).order_by(CalendarRow.name))).all()
    policies = await policy_rows(session)
    return Catalog(
        calendars=[calendar_of(c) for c in calendars],
        # before the policy file is first applied, the defaults hold (every priority has a target)
        policies=[policy_of(p) for p in policies] or list(DEFAULT_POLICIES),
    )


async def incident(session: AsyncSession, incident_id: uuid.UUID) -> IncidentRow:
    """The incident's row, locked (created empty on first sight: events may arrive in any order)."""
    await session.execute(insert(IncidentRow).values(incident_id=incident_id).on_conflict_do_nothing())
    row = await session.scalar(
        select(IncidentRow).where(IncidentRow.incident_id == incident_id).with_for_update()
    )
    assert row is not None
    return row
