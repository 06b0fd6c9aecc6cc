"""The timer poller: fires due clocks, sharing work across replicas."""

from __future__ import annotations

import asyncio

from tierline_shared.runtime import Runtime
from tierline_sla_monitor.service_layer.clocks import fire_due_clocks


async def fire_timers(rt: Runtime) -> None:
    batch = rt.settings.timer_batch_size
    while True:
        async with rt.unit_of_work() as session:
            fired = await fire_due_clocks(session, rt.state["deps"], limit=batch)
        if fired < batch:
            await asyncio.sleep(rt.settings.timer_poll_seconds)
