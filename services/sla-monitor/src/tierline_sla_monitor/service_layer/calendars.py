"""Business calendars through the admin API; no change may leave a policy naming a missing calendar.

The use cases have the standard names the catalog's routes call (list_all, get, create, replace, delete).
"""

from __future__ import annotations

from datetime import datetime

from tierline_shared.catalog.resource import Listed
from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.service_layer.catalog import CATALOG_LOCK, checked
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


async def list_all(uow: SlaUnitOfWork) -> list[Listed[Calendar]]:
    return await uow.calendars.list_all()


async def get(uow: SlaUnitOfWork, name: str) -> Listed[Calendar]:
    return await uow.calendars.get(name)


async def create(uow: SlaUnitOfWork, now: datetime, calendar: Calendar) -> Listed[Calendar]:
    await uow.lock(CATALOG_LOCK)
    await uow.calendars.absent(calendar.name, lock=True)
    row = await uow.calendars.add(calendar, now)
    await checked(uow)
    return uow.calendars.view(row)


async def replace(uow: SlaUnitOfWork, now: datetime, calendar: Calendar) -> Listed[Calendar]:
    """Replace a calendar; running clocks follow it from their next change or warning."""
    await uow.lock(CATALOG_LOCK)
    row = await uow.calendars.found(calendar.name)
    await uow.calendars.replace(row, calendar, now)
    await checked(uow)
    return uow.calendars.view(row)


async def delete(uow: SlaUnitOfWork, name: str) -> None:
    await uow.lock(CATALOG_LOCK)
    await uow.calendars.remove(await uow.calendars.found(name))
    await checked(uow)
