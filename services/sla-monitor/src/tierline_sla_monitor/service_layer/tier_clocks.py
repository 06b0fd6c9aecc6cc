"""Tier budgets: a clock per stay of the incident in a support tier."""

from __future__ import annotations

import uuid
from datetime import datetime

from tierline_sla_monitor.domain.calendar import ALWAYS
from tierline_sla_monitor.domain.clock import tier_change
from tierline_sla_monitor.domain.policy import ClockKind
from tierline_sla_monitor.service_layer import steps
from tierline_sla_monitor.service_layer.deps import SlaDeps
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

TIER_CLOCKS = (ClockKind.TIER.value,)


async def restart_tier_clock(
    uow: SlaUnitOfWork,
    deps: SlaDeps,
    *,
    incident_id: uuid.UUID,
    tier: str,
    budget_seconds: float | None,
    at: datetime,
    entered_at: datetime | None = None,
) -> None:
    """A tier holds the incident: its budget runs from when the tier took it (``entered_at``).

    A re-assignment inside the same stay keeps the clock; a new budget for the same stay
    (the priority changed) re-arms it from the tier's entry; a new stay replaces it.
    """
    incident = await uow.incidents.lock(incident_id)
    if incident.is_closed:
        return
    incident.moved_to(tier)
    uow.incidents.save(incident)
    started = entered_at or at
    budget = deps.config.tier_budget(tier, budget_seconds)
    change = tier_change(await uow.clocks.latest_tier_clock(incident_id), tier, started, budget)
    if change == "keep":
        return
    catalog = await uow.catalog.load()
    for clock in await uow.clocks.open_of(incident_id, TIER_CLOCKS):
        if change == "rearm":
            clock.cancel(at)  # re-armed with a new budget below
            uow.clocks.save(clock)
        else:
            await steps.stop(uow, catalog, clock, at)  # the stay ended: within its budget or not
    if change == "replace":
        await steps.record_finish(uow, catalog, incident_id, TIER_CLOCKS, at)
    await uow.flush()  # the old clock is closed before the new one of its kind is inserted
    if budget is None:
        return
    policy = incident.current_policy(catalog) if incident.priority else None
    clock, announced = steps.opened(
        uow,
        incident,
        kind=ClockKind.TIER,
        started_at=started,
        target=budget,
        calendar=catalog.calendar(policy.calendar) if policy else ALWAYS,
        warnings=policy.warnings if policy else [],
        tier=tier,
    )
    await uow.announce(announced)
    if policy is not None and incident.hold_reason is not None and incident.pauses_under(policy):
        await steps.pause(uow, catalog, clock, incident.hold_reason, at)
