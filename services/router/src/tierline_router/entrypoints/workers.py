"""Background loops: acknowledgement timeouts, and the queue gauges."""

from __future__ import annotations

import asyncio

from tierline_router import metrics
from tierline_router.adapters import repository as repo
from tierline_router.service_layer.routing import fire_ack_timeouts
from tierline_shared.runtime import Runtime, poll_in_batches


async def ack_timer(rt: Runtime) -> None:
    await poll_in_batches(
        rt,
        lambda session, batch: fire_ack_timeouts(session, rt.state["deps"], limit=batch),
        batch=rt.settings.ack_batch_size,
        idle_seconds=rt.settings.ack_poll_seconds,
    )


async def queue_gauges(rt: Runtime) -> None:
    while True:
        async with rt.sessions() as session:
            catalog = await repo.load_catalog(session)
            counts = await repo.queue_counts(session)
            open_counts = await repo.open_by_tier_and_priority(session)
        metrics.observe_queues({q.name: q.tier for q in catalog.queues}, counts)
        metrics.observe_open(open_counts)
        await asyncio.sleep(rt.settings.gauge_refresh_seconds)
