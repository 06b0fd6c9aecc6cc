"""Reads for the API and the gauges: who holds an incident, what each queue holds and waits for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tierline_router.domain.assignment import Assignment
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork


async def assignment(uow: RouterUnitOfWork, incident_id: uuid.UUID) -> Assignment:
    return await uow.assignments.load_or_404(incident_id)


@dataclass(frozen=True)
class Load:
    """What the gauges show: queues by tier, per queue (held, waiting), open per (tier, priority)."""

    queue_tiers: dict[str, str]
    queues: dict[str, tuple[int, int]]
    open: dict[tuple[str, str], int]


async def load(uow: RouterUnitOfWork) -> Load:
    catalog = await uow.catalog.load()
    return Load(
        queue_tiers={q.name: q.tier for q in catalog.queues},
        queues=await uow.assignments.queue_counts(),
        open=await uow.assignments.open_by_tier_and_priority(),
    )
