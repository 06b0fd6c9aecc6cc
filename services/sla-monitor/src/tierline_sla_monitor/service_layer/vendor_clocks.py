"""Vendor contract clocks: response and resolution, while the vendor holds the case (24x7)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tierline_sla_monitor.domain.calendar import ALWAYS
from tierline_sla_monitor.domain.policy import ClockKind
from tierline_sla_monitor.service_layer import steps
from tierline_sla_monitor.service_layer.deps import VENDOR_CLOCKS, SlaDeps
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


async def start_vendor_clocks(
    uow: SlaUnitOfWork,
    deps: SlaDeps,
    incident_id: uuid.UUID,
    *,
    vendor: str,
    response_seconds: float | None,
    resolution_seconds: float | None,
    at: datetime,
) -> None:
    """The vendor holds the case: its contract's response and resolution clocks run (24x7)."""
    incident = await uow.incidents.lock(incident_id)
    if incident.is_closed:
        return
    for clock in await uow.clocks.open_of(incident_id, VENDOR_CLOCKS):
        clock.cancel(at)
        uow.clocks.save(clock)
    await uow.flush()  # the old clocks are closed before new ones of their kinds are inserted
    for kind, seconds in (
        (ClockKind.VENDOR_RESPONSE, response_seconds),
        (ClockKind.VENDOR_RESOLUTION, resolution_seconds),
    ):
        if seconds:
            _, started = steps.opened(
                uow,
                incident,
                kind=kind,
                started_at=at,
                target=timedelta(seconds=seconds),
                calendar=ALWAYS,
                warnings=[],
                vendor=vendor,
            )
            await uow.announce(started)


async def cancel_vendor_clocks(
    uow: SlaUnitOfWork, incident_id: uuid.UUID, at: datetime, *, vendor: str | None = None
) -> None:
    """The case went back from the vendor (``vendor``'s, or whoever's): its contract no longer runs."""
    for clock in await uow.clocks.open_of(incident_id, VENDOR_CLOCKS):
        if vendor is None or clock.vendor == vendor:
            clock.cancel(at)
            uow.clocks.save(clock)


async def stop_vendor_clocks(
    uow: SlaUnitOfWork, deps: SlaDeps, incident_id: uuid.UUID, at: datetime, *, vendor: str, resolved: bool
) -> None:
    """``vendor`` answered (its response clock stops) or resolved (both stop); others' clocks stay."""
    kinds = list(VENDOR_CLOCKS if resolved else (ClockKind.VENDOR_RESPONSE.value,))
    catalog = await uow.catalog.load()
    for clock in await uow.clocks.open_of(incident_id, kinds):
        if clock.vendor == vendor:
            await steps.stop(uow, catalog, clock, at)
    await steps.correct_early_breaches(uow, catalog, incident_id, kinds, at, vendor=vendor)
    await steps.record_finish(uow, catalog, incident_id, kinds, at, vendor=vendor)
