"""The timer poller: announces warnings and breaches, sharing work across replicas."""

from __future__ import annotations

from tierline_shared.runtime import Runtime, poll_in_batches
from tierline_sla_monitor.service_layer.timers import fire_due_clocks


async def fire_timers(rt: Runtime) -> None:
    await poll_in_batches(
        rt,
        lambda session, batch: fire_due_clocks(session, rt.state["deps"], limit=batch),
        batch=rt.settings.timer_batch_size,
        idle_seconds=rt.settings.timer_poll_seconds,
    )
