"""The delivery worker: claims due webhook deliveries, has them attempted, records the outcomes.

The loop and the transactions are here; what an attempt is (the vendor's current endpoint,
signing, posting) and what its outcome changes are the service layer's.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

import aiohttp

from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime
from tierline_vendor_gateway import metrics
from tierline_vendor_gateway.config import Settings
from tierline_vendor_gateway.domain.vendors import MAX_TIMEOUT
from tierline_vendor_gateway.domain.webhook import AttemptResult, ClaimedDelivery
from tierline_vendor_gateway.service_layer import attempts, deliveries
from tierline_vendor_gateway.service_layer.attempts import Attempt
from tierline_vendor_gateway.service_layer.deliveries import Outcome
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

_log = get_logger(__name__)


# How long finished attempts may wait to be recorded together while others are still in flight.
RECORD_EVERY_SECONDS = 0.05


async def _attempt(rt: Runtime, client: aiohttp.ClientSession, claimed: ClaimedDelivery) -> None:
    await _attempt_batch(rt, client, [claimed])


async def _attempt_batch(rt: Runtime, client: aiohttp.ClientSession, claimed: list[ClaimedDelivery]) -> None:
    """Send a claimed batch concurrently, then record every outcome."""
    prepared = await _prepare(rt, client, claimed)
    results = await asyncio.gather(*(a.send for a in prepared))
    await _record(rt, [a.outcome(r) for a, r in zip(prepared, results, strict=True)])


async def _prepare(
    rt: Runtime, client: aiohttp.ClientSession, claimed: list[ClaimedDelivery]
) -> list[Attempt]:
    """The claimed deliveries' attempts, to their vendors as registered now (read outside a transaction)."""
    deps: GatewayDeps = rt.state["deps"]
    async with rt.sessions() as session:
        return await attempts.prepare(deps.unit_of_work(session), deps, client, claimed)


async def _record(rt: Runtime, outcomes: list[Outcome]) -> None:
    """Record outcomes in one transaction; should that fail, each on its own.

    An outcome that cannot be recorded twice over is dead-lettered (its data, not the database,
    is the likely cause); if even that fails, its lease runs out and it is retried, same webhook-id.
    """
    deps: GatewayDeps = rt.state["deps"]
    for outcome in outcomes:
        metrics.ATTEMPT_SECONDS.labels(outcome.claimed.vendor).observe(outcome.result.latency_seconds)
    try:
        async with rt.unit_of_work() as session:
            await deliveries.record_attempts(deps.unit_of_work(session), deps, outcomes)
        return
    except Exception:  # noqa: BLE001 - record one by one, so one bad outcome costs only itself
        _log.warning("batch_not_recorded", deliveries=len(outcomes), exc_info=True)
    for outcome in outcomes:
        failure = ""
        for _ in range(2):
            try:
                async with rt.unit_of_work() as session:
                    await deliveries.record_attempts(deps.unit_of_work(session), deps, [outcome])
                break
            except Exception as exc:  # noqa: BLE001
                failure = type(exc).__name__
                _log.warning("attempt_not_recorded", delivery_id=outcome.claimed.id, exc_info=True)
        else:
            try:
                async with rt.unit_of_work() as session:
                    uow = deps.unit_of_work(session)
                    await deliveries.dead_letter_unrecorded(uow, deps, outcome.claimed, failure)
            except Exception:  # noqa: BLE001 - the lease brings it back
                _log.warning("attempt_not_dead_lettered", delivery_id=outcome.claimed.id, exc_info=True)


async def deliver_webhooks(rt: Runtime) -> None:
    """Keep up to a batch of attempts in flight; record finished ones together, claim more as slots free.

    A vendor that stalls holds only its own slots until its timeout: the others keep flowing.
    """
    deps: GatewayDeps = rt.state["deps"]
    settings = cast(Settings, rt.settings)
    capacity = settings.delivery_batch_size
    poll = settings.delivery_poll_seconds
    # An attempt may take up to the longest timeout; the lease keeps others off it a while longer.
    lease = MAX_TIMEOUT + timedelta(seconds=30)
    in_flight: dict[asyncio.Task[AttemptResult], Attempt] = {}
    async with attempts.client(deps) as client:
        try:
            while True:
                free, claimed = capacity - len(in_flight), []
                if free > 0:
                    async with rt.unit_of_work() as session:
                        uow = deps.unit_of_work(session)
                        claimed = await deliveries.claim_due_deliveries(uow, deps, limit=free, lease=lease)
                    for attempt in await _prepare(rt, client, claimed) if claimed else []:
                        in_flight[asyncio.create_task(attempt.send)] = attempt
                if not in_flight:
                    await asyncio.sleep(poll)
                    continue
                more_due = free > 0 and len(claimed) == free
                done, _ = await asyncio.wait(in_flight, timeout=RECORD_EVERY_SECONDS if more_due else poll)
                if done:
                    await _record(rt, [in_flight.pop(task).outcome(task.result()) for task in done])
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)


async def delivery_gauges(rt: Runtime) -> None:
    """Queue depth and dead letters, for dashboards and alerts."""
    deps: GatewayDeps = rt.state["deps"]
    while True:
        async with rt.sessions() as session:
            counts = await deliveries.queue_depth(deps.unit_of_work(session))
        for status in ("pending", "delivered", "dead"):
            metrics.QUEUE.labels(status).set(counts.get(status, 0))
        await asyncio.sleep(15)
