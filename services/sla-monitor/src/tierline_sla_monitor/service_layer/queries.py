"""What the API and the gauges read about clocks (no transitions here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


@dataclass(frozen=True)
class ClockView:
    """One clock as the API shows it, with its business time counted up to now."""

    id: uuid.UUID
    incident_id: uuid.UUID
    kind: str
    tier: str | None
    vendor: str | None
    policy: str | None
    calendar: str
    state: str
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    target_seconds: float
    elapsed_seconds: float
    remaining_seconds: float
    warnings_sent: int


async def incident_clocks(uow: SlaUnitOfWork, incident_id: uuid.UUID, now: datetime) -> list[ClockView]:
    """Every clock of the incident, in the order they started."""
    catalog = await uow.catalog.load()
    out = []
    for clock in await uow.clocks.of_incident(incident_id):
        elapsed = clock.elapsed_at(catalog.calendar(clock.calendar), now).total_seconds()
        target = clock.run.target.total_seconds()
        out.append(
            ClockView(
                id=clock.id,
                incident_id=clock.incident_id,
                kind=clock.kind.value,
                tier=clock.tier,
                vendor=clock.vendor,
                policy=clock.policy,
                calendar=clock.calendar,
                state=clock.state.value,
                started_at=clock.started_at,
                due_at=clock.due_at,
                stopped_at=clock.stopped_at,
                target_seconds=target,
                elapsed_seconds=elapsed,
                remaining_seconds=max(target - elapsed, 0.0),
                warnings_sent=clock.run.warned,
            )
        )
    return out


async def armed_clocks(uow: SlaUnitOfWork) -> dict[tuple[str, str], int]:
    """Running and paused clocks, by kind and state (for the gauges)."""
    return await uow.queries.armed()
