"""Managing SLA policies and calendars: from the policy file at start, or the admin API.

Every change is checked against the whole catalog under one advisory lock, so no edit leaves
a priority without a policy or a policy naming a missing calendar. Running clocks keep the
target they started with; a priority change re-targets them against the policies of the moment.
Policies are matched in rank order (1, 2, 3 …, no gaps); every change renumbers them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import ranking
from tierline_shared.catalog import resource
from tierline_shared.catalog.repository import CatalogRepository
from tierline_shared.catalog.resource import Listed
from tierline_shared.errors import IncompleteConfiguration, InvalidInput
from tierline_shared.logging import get_logger
from tierline_sla_monitor.adapters import repository as repo
from tierline_sla_monitor.adapters.orm import CalendarRow, PolicyRow
from tierline_sla_monitor.domain.calendar import TWENTY_FOUR_SEVEN, Calendar
from tierline_sla_monitor.domain.policy import FILTER_UNIVERSES, SlaConfig, SlaPolicy, config_problem

_log = get_logger(__name__)
CATALOG_LOCK = "tierline.sla.catalog"
CONFIG, API = resource.CONFIG, resource.API
POLICY = "SLA policy"

POLICIES = resource.Resource[PolicyRow, SlaPolicy](
    row=PolicyRow,
    what=POLICY,
    article="an",
    item_of=repo.policy_of,
    columns=lambda p: {"spec": p.model_dump(mode="json", exclude={"name"})},
    ranked=True,
    universes=FILTER_UNIVERSES,
)
CALENDARS = resource.Resource[CalendarRow, Calendar](
    row=CalendarRow,
    what="calendar",
    article="a",
    item_of=repo.calendar_of,
    columns=lambda c: {"spec": c.model_dump(mode="json", exclude={"name"})},
)


def policies(session: AsyncSession) -> resource.Catalog[PolicyRow, SlaPolicy]:
    return resource.Catalog(
        POLICIES, CatalogRepository(session, PolicyRow, what=POLICY, order=("rank", "name"))
    )


def calendars(session: AsyncSession) -> resource.Catalog[CalendarRow, Calendar]:
    return resource.Catalog(CALENDARS, CatalogRepository(session, CalendarRow, what="calendar"))


async def _checked(session: AsyncSession) -> repo.Catalog:
    await session.flush()
    catalog = await repo.load_catalog(session)
    problem = config_problem(catalog.calendars, catalog.policies)
    if problem:
        raise IncompleteConfiguration(f"The change is refused: {problem}.")
    return catalog


async def _lock(session: AsyncSession) -> None:
    await policies(session).repo.lock(CATALOG_LOCK)


async def apply_config(session: AsyncSession, config: SlaConfig, now: datetime) -> None:
    """Make the database hold what the policy file declares (what the API made stays).

    The file's policies take the file's order; those made through the API keep their place
    relative to the file's policies (see ``ranking.reapply``).
    """
    await _lock(session)
    await calendars(session).apply_config(config.calendars, now)
    await policies(session).apply_config(config.policies, now)
    await _checked(session)
    for listed in await list_policies(session):
        for warning in listed.warnings:
            _log.warning("catalog_entry_never_reached", entry=listed.item.name, detail=warning.detail)
    _log.info("sla_config_applied", calendars=len(config.calendars), policies=len(config.policies))


async def list_policies(session: AsyncSession) -> list[Listed[SlaPolicy]]:
    """Policies in match order, each with the warnings its place earns."""
    return await policies(session).list_all()


async def get_policy(session: AsyncSession, name: str) -> Listed[SlaPolicy]:
    return await policies(session).get(name)


def _check_calendar(catalog: repo.Catalog, policy: SlaPolicy) -> None:
    known = {c.name for c in catalog.calendars} | {TWENTY_FOUR_SEVEN}
    if policy.calendar not in known:
        raise InvalidInput(
            f"calendar: no calendar {policy.calendar!r}; create it first or use {TWENTY_FOUR_SEVEN!r}.",
            errors=[
                {
                    "field": "calendar",
                    "reason": f"unknown calendar {policy.calendar!r}",
                    "pointer": "/calendar",
                }
            ],
        )


async def put_policy(
    session: AsyncSession, policy: SlaPolicy, placement: ranking.Placement, now: datetime, *, create: bool
) -> Listed[SlaPolicy]:
    """Create (``create``) or replace a policy at its place; clocks already running keep their targets.

    Unplaced, a new policy goes last (with a warning) and a replaced one keeps its rank.
    """
    await _lock(session)
    _check_calendar(await repo.load_catalog(session), policy)
    catalog_ = policies(session)
    if create:
        await catalog_.absent(policy.name, lock=True)
        row = await catalog_.add(policy, now, placement)
    else:
        row = await catalog_.found(policy.name)
        await catalog_.replace(row, policy, now, placement)
    catalog = await _checked(session)
    is_placed_last = create and not placement.is_given
    return catalog_.view(row, catalog_.warnings(catalog.policies, policy.name, is_placed_last=is_placed_last))


async def delete_policy(session: AsyncSession, name: str) -> None:
    await _lock(session)
    catalog = policies(session)
    await catalog.remove(await catalog.found(name))
    await _checked(session)


async def list_calendars(session: AsyncSession) -> list[Listed[Calendar]]:
    return await calendars(session).list_all()


async def get_calendar(session: AsyncSession, name: str) -> Listed[Calendar]:
    return await calendars(session).get(name)


async def put_calendar(
    session: AsyncSession, calendar: Calendar, now: datetime, *, create: bool
) -> Listed[Calendar]:
    """Create or replace a calendar; running clocks follow it from their next change or warning."""
    await _lock(session)
    catalog = calendars(session)
    if create:
        await catalog.absent(calendar.name, lock=True)
        row = await catalog.add(calendar, now)
    else:
        row = await catalog.found(calendar.name)
        await catalog.replace(row, calendar, now)
    await _checked(session)
    return catalog.view(row)


async def delete_calendar(session: AsyncSession, name: str) -> None:
    await _lock(session)
    catalog = calendars(session)
    await catalog.remove(await catalog.found(name))
    await _checked(session)
