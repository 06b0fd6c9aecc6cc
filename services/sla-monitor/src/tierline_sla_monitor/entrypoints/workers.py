"""The timer poller: announces warnings and breaches, sharing work across replicas."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from tierline_shared.runtime import Runtime, poll_in_batches
from tierline_sla_monitor import metrics
from tierline_sla_monitor.adapters.orm import ClockRow
from tierline_sla_monitor.service_layer.timers import fire_due_clocks


async def fire_timers(rt: Runtime) -> None:
    await poll_in_batches(
        rt,
        lambda session, batch: fire_due_clocks(session, rt.state["deps"], limit=batch),
        batch=rt.settings.timer_batch_size,
        idle_seconds=rt.settings.timer_poll_seconds,
    )


async def clock_gauges(rt: Runtime) -> None:
    while True:
        async with rt.sessions() as session:
            rows = await session.execute(
                select(ClockRow.kind, ClockRow.state, func.count())
                .where(ClockRow.state.in_(("running", "paused")))
                .group_by(ClockRow.kind, ClockRow.state)
            )
            metrics.observe_clocks({(kind, state): count for kind, state, count in rows})
        await asyncio.sleep(15)
