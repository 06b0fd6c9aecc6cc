"""The sender: claims due messages, sends them concurrently, records the outcomes together."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

from tierline_notifier import metrics
from tierline_notifier.config import Settings
from tierline_notifier.service_layer import queries, sending
from tierline_notifier.service_layer.unit_of_work import NotifierDeps
from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime

_log = get_logger(__name__)


async def send_due(rt: Runtime) -> bool:
    """Claim what is due, send it, record it; True when a full batch was claimed (more may wait)."""
    deps: NotifierDeps = rt.state["deps"]
    settings = cast(Settings, rt.settings)
    async with rt.unit_of_work() as session:
        claimed = await sending.claim(
            deps.unit_of_work(session),
            deps,
            limit=settings.send_batch_size,
            lease=timedelta(seconds=settings.send_lease_seconds),
        )
    if not claimed:
        return False
    outcomes = await asyncio.gather(*(sending.send(deps, message) for message in claimed))
    try:
        async with rt.unit_of_work() as session:
            await sending.record(deps.unit_of_work(session), deps, list(outcomes))
    except Exception:  # noqa: BLE001 - one by one, so one bad outcome costs only itself
        _log.warning("outcomes_not_recorded", count=len(outcomes), exc_info=True)
        for outcome in outcomes:
            try:
                async with rt.unit_of_work() as session:
                    await sending.record(deps.unit_of_work(session), deps, [outcome])
            except Exception:  # noqa: BLE001 - its lease runs out and it is tried again
                _log.warning("outcome_not_recorded", notification_id=str(outcome.claimed.id), exc_info=True)
    return len(claimed) == settings.send_batch_size


async def send_notifications(rt: Runtime) -> None:
    settings = cast(Settings, rt.settings)
    while True:
        if not await send_due(rt):
            await asyncio.sleep(settings.send_poll_seconds)


async def queue_gauges(rt: Runtime) -> None:
    """Messages by status, for dashboards and alerts (dead ones above all)."""
    deps: NotifierDeps = rt.state["deps"]
    while True:
        async with rt.sessions() as session:
            counts = await queries.queue_depth(deps.unit_of_work(session))
        for status in ("pending", "sent", "dead", "cancelled", "skipped"):
            metrics.QUEUE.labels(status).set(counts.get(status, 0))
        await asyncio.sleep(15)
