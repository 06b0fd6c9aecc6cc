"""SLA policies through the admin API, each placed in the match order; clocks already running keep
their targets until the incident's priority changes.

The use cases have the standard names the catalog's routes call (list_all, get, create, replace, delete).
"""

from __future__ import annotations

from datetime import datetime

from tierline_shared import ranking
from tierline_shared.catalog.resource import Listed
from tierline_shared.errors import InvalidInput
from tierline_sla_monitor.domain.calendar import TWENTY_FOUR_SEVEN
from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.policy import SlaPolicy
from tierline_sla_monitor.service_layer.catalog import CATALOG_LOCK, checked
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


async def list_all(uow: SlaUnitOfWork) -> list[Listed[SlaPolicy]]:
    """Policies in match order, each with the warnings its place earns."""
    return await uow.policies.list_all()


async def get(uow: SlaUnitOfWork, name: str) -> Listed[SlaPolicy]:
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


async def create(
    uow: SlaUnitOfWork, now: datetime, policy: SlaPolicy, placement: ranking.Placement
) -> Listed[SlaPolicy]:
    """Add a policy at its place (unsaid: last, with a warning)."""
    return await _put(uow, now, policy, placement, create=True)


async def replace(
    uow: SlaUnitOfWork, now: datetime, policy: SlaPolicy, placement: ranking.Placement
) -> Listed[SlaPolicy]:
    """Replace a policy (unplaced, it keeps its rank)."""
    return await _put(uow, now, policy, placement, create=False)


async def _put(
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
    catalog = await checked(uow)
    is_placed_last = create and not placement.is_given
    warnings = uow.policies.warnings(catalog.policies, policy.name, is_placed_last=is_placed_last)
    return uow.policies.view(row, warnings)


async def delete(uow: SlaUnitOfWork, name: str) -> None:
    await uow.lock(CATALOG_LOCK)
    await uow.policies.remove(await uow.policies.found(name))
    await checked(uow)
