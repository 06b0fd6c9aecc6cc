"""SLA policies and calendars as the shared catalog resource stores them (tierline_shared.catalog)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.catalog import repository, resource
from tierline_sla_monitor.adapters.orm import CalendarRow, PolicyRow
from tierline_sla_monitor.adapters.repository import calendar_of, policy_of
from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.policy import FILTER_UNIVERSES, SlaPolicy

POLICY = "SLA policy"

POLICIES = resource.Resource[PolicyRow, SlaPolicy](
    row=PolicyRow,
    what=POLICY,
    article="an",
    item_of=policy_of,
    columns=lambda p: {"spec": p.model_dump(mode="json", exclude={"name"})},
    ranked=True,
    universes=FILTER_UNIVERSES,
)
CALENDARS = resource.Resource[CalendarRow, Calendar](
    row=CalendarRow,
    what="calendar",
    article="a",
    item_of=calendar_of,
    columns=lambda c: {"spec": c.model_dump(mode="json", exclude={"name"})},
)


def policies(session: AsyncSession) -> resource.Catalog[PolicyRow, SlaPolicy]:
    return resource.Catalog(
        POLICIES, repository.CatalogRepository(session, PolicyRow, what=POLICY, order=("rank", "name"))
    )


def calendars(session: AsyncSession) -> resource.Catalog[CalendarRow, Calendar]:
    return resource.Catalog(CALENDARS, repository.CatalogRepository(session, CalendarRow, what="calendar"))
