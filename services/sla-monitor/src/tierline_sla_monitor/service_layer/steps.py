"""Steps the clock use cases share: open, stop, pause a clock, and settle breaches a late stop explains.

Each loads nothing: it calls the clock's transition, saves it and stages what it returned.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from tierline_shared import tracing
from tierline_shared.events import SlaClockStarted
from tierline_sla_monitor import metrics
from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.clock import Clock
from tierline_sla_monitor.domain.incident import Incident
from tierline_sla_monitor.domain.policy import ClockKind
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


def opened(
    uow: SlaUnitOfWork,
    incident: Incident,
    *,
    kind: ClockKind,
    started_at: datetime,
    target: timedelta,
    calendar: Calendar,
    warnings: Sequence[float],
    tier: str | None = None,
    vendor: str | None = None,
) -> tuple[Clock, SlaClockStarted]:
    """A clock started and saved, with the event that announces it (the caller announces it,
    together with others started at once: ``uow.announce_many``)."""
    clock, started = Clock.start(
        id=uuid.uuid4(),
        incident_id=incident.incident_id,
        kind=kind,
        started_at=started_at,
        target=target,
        calendar=calendar,
        warnings=warnings,
        tier=tier,
        vendor=vendor,
        priority=incident.priority,
        service=incident.service,
        policy=incident.policy,
        traceparent=tracing.current_context()[0],
    )
    uow.clocks.save(clock)
    return clock, started


async def stop(uow: SlaUnitOfWork, catalog: Catalog, clock: Clock, at: datetime) -> None:
    """The work the clock measured ended at ``at``: met or breached."""
    event = clock.stop(catalog.calendar(clock.calendar), at)
    uow.clocks.save(clock)
    kind, outcome = clock.kind.value, clock.state.value
    uow.after_commit(lambda: metrics.outcome(kind, outcome))
    await uow.announce(event)


async def pause(uow: SlaUnitOfWork, catalog: Catalog, clock: Clock, reason: str, at: datetime) -> None:
    event = clock.pause(catalog.calendar(clock.calendar), reason, at)
    uow.clocks.save(clock)
    await uow.announce(event)


async def correct_early_breaches(
    uow: SlaUnitOfWork,
    catalog: Catalog,
    incident_id: uuid.UUID,
    kinds: Sequence[str],
    at: datetime,
    *,
    vendor: str | None = None,
) -> None:
    """The stop happened in time but reached us after the poller fired (consumer lag): it was met."""
    for clock in await uow.clocks.breached_of(incident_id, kinds, vendor=vendor, due_not_before=at):
        event = clock.correct_early_breach(catalog.calendar(clock.calendar), at)
        uow.clocks.save(clock)
        await uow.announce(event)


async def record_finish(
    uow: SlaUnitOfWork,
    catalog: Catalog,
    incident_id: uuid.UUID,
    kinds: Sequence[str],
    at: datetime,
    *,
    vendor: str | None = None,
) -> None:
    """Breached clocks' work finally ended: keep how long it really took, for the compliance report."""
    for clock in await uow.clocks.breached_of(incident_id, kinds, vendor=vendor, unfinished=True):
        clock.record_finish(catalog.calendar(clock.calendar), at)
        uow.clocks.save(clock)
