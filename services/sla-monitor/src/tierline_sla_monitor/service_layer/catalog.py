"""Managing SLA policies and calendars: from the policy file at start, or the admin API.

Every change is checked against the whole catalog under one advisory lock, so no edit leaves
a priority without a policy or a policy naming a missing calendar. Running clocks keep the
target they started with; a priority change re-targets them against the policies of the moment.
Policies are matched in rank order (1, 2, 3 …, no gaps); every change renumbers them.
"""

from __future__ import annotations

from datetime import datetime

from tierline_shared import ranking
from tierline_shared.catalog import resource
from tierline_shared.catalog.resource import Listed
from tierline_shared.errors import IncompleteConfiguration, InvalidInput
from tierline_shared.logging import get_logger
from tierline_sla_monitor.domain.calendar import TWENTY_FOUR_SEVEN, Calendar
from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.policy import SlaConfig, SlaPolicy, config_problem
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

_log = get_logger(__name__)
CATALOG_LOCK = "tierline.sla.catalog"
CONFIG, API = resource.CONFIG, resource.API


async def _checked(uow: SlaUnitOfWork) -> Catalog:
    await uow.flush()
    catalog = await uow.catalog.load()
    problem = config_problem(catalog.calendars, catalog.policies)
    if problem:
        raise IncompleteConfiguration(f"The change is refused: {problem}.")
    return catalog


async def apply_config(uow: SlaUnitOfWork, config: SlaConfig, now: datetime) -> None:
    """Make the database hold what the policy file declares (what the API made stays).

    The file's policies take the file's order; those made through the API keep their place
    relative to the file's policies (see ``ranking.reapply``).
    """
    await uow.lock(CATALOG_LOCK)
    await uow.calendars.apply_config(config.calendars, now)
    await uow.policies.apply_config(config.policies, now)
    await _checked(uow)
    for listed in await list_policies(uow):
        for warning in listed.warnings:
            _log.warning("catalog_entry_never_reached", entry=listed.item.name, detail=warning.detail)
    _log.info("sla_config_applied", calendars=len(config.calendars), policies=len(config.policies))


async def list_policies(uow: SlaUnitOfWork) -> list[Listed[SlaPolicy]]:
    """Policies in match order, each with the warnings its place earns."""
    return await uow.policies.list_all()


async def get_policy(uow: SlaUnitOfWork, name: str) -> Listed[SlaPolicy]:
    return await uow.policies.get(name)


def _check_calendar(catalog: Catalog, policy: SlaPolicy) -> None:
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


async def create_policy(
    uow: SlaUnitOfWork, now: datetime, policy: SlaPolicy, placement: ranking.Placement
) -> Listed[SlaPolicy]:
    """Add a policy at its place (unsaid: last, with a warning); clocks already running keep their targets."""
    return await _put_policy(uow, now, policy, placement, create=True)


async def replace_policy(
    uow: SlaUnitOfWork, now: datetime, policy: SlaPolicy, placement: ranking.Placement
) -> Listed[SlaPolicy]:
    """Replace a policy (unplaced, it keeps its rank); clocks already running keep their targets."""
    return await _put_policy(uow, now, policy, placement, create=False)


async def _put_policy(
    uow: SlaUnitOfWork, now: datetime, policy: SlaPolicy, placement: ranking.Placement, *, create: bool
) -> Listed[SlaPolicy]:
    await uow.lock(CATALOG_LOCK)
    _check_calendar(await uow.catalog.load(), policy)
    if create:
        await uow.policies.absent(policy.name, lock=True)
        row = await uow.policies.add(policy, now, placement)
    else:
        row = await uow.policies.found(policy.name)
        await uow.policies.replace(row, policy, now, placement)
    catalog = await _checked(uow)
    is_placed_last = create and not placement.is_given
    warnings = uow.policies.warnings(catalog.policies, policy.name, is_placed_last=is_placed_last)
    return uow.policies.view(row, warnings)


async def delete_policy(uow: SlaUnitOfWork, name: str) -> None:
    await uow.lock(CATALOG_LOCK)
    await uow.policies.remove(await uow.policies.found(name))
    await _checked(uow)


async def list_calendars(uow: SlaUnitOfWork) -> list[Listed[Calendar]]:
    return await uow.calendars.list_all()


async def get_calendar(uow: SlaUnitOfWork, name: str) -> Listed[Calendar]:
    return await uow.calendars.get(name)


async def create_calendar(uow: SlaUnitOfWork, now: datetime, calendar: Calendar) -> Listed[Calendar]:
    await uow.lock(CATALOG_LOCK)
    await uow.calendars.absent(calendar.name, lock=True)
    row = await uow.calendars.add(calendar, now)
    await _checked(uow)
    return uow.calendars.view(row)


async def replace_calendar(uow: SlaUnitOfWork, now: datetime, calendar: Calendar) -> Listed[Calendar]:
    """Replace a calendar; running clocks follow it from their next change or warning."""
    await uow.lock(CATALOG_LOCK)
    row = await uow.calendars.found(calendar.name)
    await uow.calendars.replace(row, calendar, now)
    await _checked(uow)
    return uow.calendars.view(row)


async def delete_calendar(uow: SlaUnitOfWork, name: str) -> None:
    await uow.lock(CATALOG_LOCK)
    await uow.calendars.remove(await uow.calendars.found(name))
    await _checked(uow)
