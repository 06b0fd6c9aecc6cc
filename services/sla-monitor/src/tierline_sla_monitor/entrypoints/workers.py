"""The timer poller: announces warnings and breaches, sharing work across replicas."""

from __future__ import annotations

import asyncio
from typing import cast

from tierline_shared.runtime import Runtime, poll_in_batches
from tierline_sla_monitor import metrics
from tierline_sla_monitor.config import Settings
from tierline_sla_monitor.service_layer.queries import armed_clocks
from tierline_sla_monitor.service_layer.timers import fire_due_clocks
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork


async def fire_timers(rt: Runtime) -> None:
    deps = rt.state["deps"]
    settings = cast(Settings, rt.settings)
    await poll_in_batches(
        rt,
        lambda session, batch: fire_due_clocks(SlaUnitOfWork(session, deps.outbox), deps, limit=batch),
        batch=settings.timer_batch_size,
        idle_seconds=settings.timer_poll_seconds,
    )


async def clock_gauges(rt: Runtime) -> None:
    while True:
        async with rt.sessions() as session:
            metrics.observe_clocks(await armed_clocks(SlaUnitOfWork(session, rt.outbox)))
        await asyncio.sleep(15)
