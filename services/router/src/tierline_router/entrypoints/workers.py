"""Background loops: acknowledgement timeouts, shift changes, and the queue gauges."""

from __future__ import annotations

import asyncio
from typing import cast

from tierline_router import metrics
from tierline_router.config import Settings
from tierline_router.service_layer import queries
from tierline_router.service_layer.escalation import fire_ack_timeouts
from tierline_router.service_layer.handover import watch_shifts
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.runtime import Runtime, poll_in_batches


async def ack_timer(rt: Runtime) -> None:
    deps: RouterDeps = rt.state["deps"]
    settings = cast(Settings, rt.settings)
    await poll_in_batches(
        rt,
        lambda session, batch: fire_ack_timeouts(RouterUnitOfWork(session, deps.outbox), deps, limit=batch),
        batch=settings.ack_batch_size,
        idle_seconds=settings.ack_poll_seconds,
    )


async def shift_watch(rt: Runtime) -> None:
    """Hand work over when a schedule's on-call person changes (safe on every replica: SKIP LOCKED)."""
    deps: RouterDeps = rt.state["deps"]
    settings = cast(Settings, rt.settings)
    await poll_in_batches(
        rt,
        lambda session, batch: watch_shifts(RouterUnitOfWork(session, deps.outbox), deps, limit=batch),
        batch=settings.shift_batch_size,
        idle_seconds=settings.shift_poll_seconds,
    )


async def queue_gauges(rt: Runtime) -> None:
    deps: RouterDeps = rt.state["deps"]
    refresh_seconds = cast(Settings, rt.settings).gauge_refresh_seconds
    while True:
        async with rt.sessions() as session:
            load = await queries.load(RouterUnitOfWork(session, deps.outbox))
        metrics.observe_queues(load.queue_tiers, load.queues)
        metrics.observe_open(load.open)
        await asyncio.sleep(refresh_seconds)
