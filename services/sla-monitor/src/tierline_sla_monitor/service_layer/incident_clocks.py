"""The incident's own clocks: response and resolution start, re-target, pause, resume and stop."""

from __future__ import annotations

import uuid
from datetime import datetime

from tierline_shared.events import IncidentCreated
from tierline_sla_monitor.domain.policy import ClockKind, ClockState
from tierline_sla_monitor.service_layer import steps
from tierline_sla_monitor.service_layer.deps import ALL_CLOCKS, INCIDENT_CLOCKS, VENDOR_CLOCKS, SlaDeps
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


async def start_incident_clocks(uow: SlaUnitOfWork, deps: SlaDeps, event: IncidentCreated) -> None:
    incident = await uow.incidents.lock(event.incident_id)
    if incident.is_closed or await uow.clocks.open_of(event.incident_id, INCIDENT_CLOCKS):
        return
    catalog = await uow.catalog.load()
    policy = incident.created(
        priority=event.priority,
        service=event.service,
        customer=event.customer,
        type=event.type,
        catalog=catalog,
    )
    uow.incidents.save(incident)
    calendar = catalog.calendar(policy.calendar)
    started = [
        steps.opened(
            uow,
            incident,
            kind=kind,
            started_at=event.created_at,
            target=policy.target(kind),
            calendar=calendar,
            warnings=policy.warnings,
        )[1]
        for kind in (ClockKind.RESPONSE, ClockKind.RESOLUTION)
    ]
    await uow.announce_many(started)  # both clocks written, and announced, in one statement each


async def stop_response_clock(
    uow: SlaUnitOfWork, deps: SlaDeps, incident_id: uuid.UUID, at: datetime
) -> None:
    kinds = [ClockKind.RESPONSE.value]
    catalog = await uow.catalog.load()
    for clock in await uow.clocks.open_of(incident_id, kinds):
        await steps.stop(uow, catalog, clock, at)
    await steps.correct_early_breaches(uow, catalog, incident_id, kinds, at)
    await steps.record_finish(uow, catalog, incident_id, kinds, at)


async def stop_all_clocks(uow: SlaUnitOfWork, deps: SlaDeps, incident_id: uuid.UUID, at: datetime) -> None:
    """Resolved: every open clock, the last tier's budget too, ends met or breached."""
    incident = await uow.incidents.lock(incident_id)
    incident.close(at)
    uow.incidents.save(incident)
    catalog = await uow.catalog.load()
    for clock in await uow.clocks.open_of(incident_id, ALL_CLOCKS):
        await steps.stop(uow, catalog, clock, at)
    await steps.correct_early_breaches(uow, catalog, incident_id, [*INCIDENT_CLOCKS, *VENDOR_CLOCKS], at)
    await steps.record_finish(uow, catalog, incident_id, ALL_CLOCKS, at)


async def pause_for_hold(
    uow: SlaUnitOfWork, deps: SlaDeps, incident_id: uuid.UUID, reason: str, at: datetime
) -> None:
    """On hold: the resolution clock and tier budget stop counting if the policy pauses on ``reason``."""
    incident = await uow.incidents.lock(incident_id)
    incident.hold(reason)
    uow.incidents.save(incident)
    catalog = await uow.catalog.load()
    if incident.is_closed or not incident.pauses_under(incident.current_policy(catalog)):
        return
    for clock in await uow.clocks.open_of(incident_id, [ClockKind.RESOLUTION.value, ClockKind.TIER.value]):
        if clock.state is ClockState.RUNNING:
            await steps.pause(uow, catalog, clock, reason, at)


async def resume(uow: SlaUnitOfWork, deps: SlaDeps, incident_id: uuid.UUID, at: datetime) -> None:
    """Off hold: paused clocks count on from the business time they had spent."""
    incident = await uow.incidents.lock(incident_id)
    incident.release()
    uow.incidents.save(incident)
    catalog = await uow.catalog.load()
    for clock in await uow.clocks.open_of(incident_id, ALL_CLOCKS):
        if clock.state is not ClockState.PAUSED:
            continue
        event = clock.resume(catalog.calendar(clock.calendar), at)
        uow.clocks.save(clock)
        await uow.announce(event)


async def recalculate(
    uow: SlaUnitOfWork,
    deps: SlaDeps,
    incident_id: uuid.UUID,
    *,
    priority: str,
    service: str,
    at: datetime,
    type: str | None = None,
) -> None:
    """A new priority (or service, or type) applies retroactively: business time already spent counts
    against the policy it picks now."""
    incident = await uow.incidents.lock(incident_id)
    catalog = await uow.catalog.load()
    policy = incident.reclassify(priority=priority, service=service, type=type, catalog=catalog)
    uow.incidents.save(incident)
    calendar = catalog.calendar(policy.calendar)
    paused = incident.pauses_under(policy)
    for clock in await uow.clocks.open_of(incident_id, INCIDENT_CLOCKS):
        event = clock.recalculate(
            old_calendar=catalog.calendar(clock.calendar),
            policy=policy,
            calendar=calendar,
            priority=priority,
            service=service,
            paused=paused,
            at=at,
        )
        uow.clocks.save(clock)
        if event is not None:
            await uow.announce(event)


async def restart_after_reopen(
    uow: SlaUnitOfWork, deps: SlaDeps, incident_id: uuid.UUID, priority: str, at: datetime
) -> None:
    """A reopened incident gets a fresh resolution clock from the moment it reopened."""
    incident = await uow.incidents.lock(incident_id)
    incident.reopen(priority)
    uow.incidents.save(incident)
    if await uow.clocks.open_of(incident_id, [ClockKind.RESOLUTION.value]):
        return
    catalog = await uow.catalog.load()
    policy = incident.current_policy(catalog)
    _, started = steps.opened(
        uow,
        incident,
        kind=ClockKind.RESOLUTION,
        started_at=at,
        target=policy.resolution,
        calendar=catalog.calendar(policy.calendar),
        warnings=policy.warnings,
    )
    await uow.announce(started)
