"""The delivery worker: claims due webhook deliveries, signs and sends them, records outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import func, select

from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime
from tierline_vendor_gateway import metrics
from tierline_vendor_gateway.adapters import sender, ssrf, webhooks
from tierline_vendor_gateway.adapters.orm import DeliveryRow
from tierline_vendor_gateway.config import DeliveryPolicy
from tierline_vendor_gateway.domain.vendors import MAX_TIMEOUT, Vendor
from tierline_vendor_gateway.service_layer import cases, registry
from tierline_vendor_gateway.service_layer.cases import ClaimedDelivery
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

_log = get_logger(__name__)


# How long finished attempts may wait to be recorded together while others are still in flight.
RECORD_EVERY_SECONDS = 0.05
Send = tuple[ClaimedDelivery, DeliveryPolicy, str | None, Coroutine[Any, Any, sender.AttemptResult]]


async def _attempt(rt: Runtime, client: aiohttp.ClientSession, claimed: ClaimedDelivery) -> None:
    await _attempt_batch(rt, client, [claimed])


async def _attempt_batch(rt: Runtime, client: aiohttp.ClientSession, claimed: list[ClaimedDelivery]) -> None:
    """Send a claimed batch concurrently, then record every outcome."""
    sends = await _sends(rt, client, claimed)
    results = await asyncio.gather(*(send for *_, send in sends))
    await _record(rt, [cases.Outcome(c, r, p, u) for (c, p, u, _), r in zip(sends, results, strict=True)])


async def _sends(rt: Runtime, client: aiohttp.ClientSession, claimed: list[ClaimedDelivery]) -> list[Send]:
    """One attempt per claimed delivery, to its vendor as the registry describes it now.

    Vendors are read once per claim, so an edit (new endpoint, rotated secret, disabled
    endpoint) applies from the next claim on, on every replica.
    """
    deps: GatewayDeps = rt.state["deps"]
    async with rt.sessions() as session:
        vendors = await registry.load(session, {c.vendor for c in claimed})
    policies = {name: deps.delivery.for_vendor(r.vendor) for name, r in vendors.items()}
    sends: list[Send] = []
    for c in claimed:
        registered = vendors.get(c.vendor)
        if registered is None:
            sends.append((c, deps.delivery, None, _final("the vendor is no longer registered")))
        elif not registered.is_enabled:
            reason = f"the vendor's endpoint is disabled: {registered.disabled_reason}"
            sends.append((c, deps.delivery, None, _final(reason)))
        else:
            vendor, policy = registered.vendor, policies[c.vendor]
            send = _send(deps, client, c, vendor, policy.timeout.total_seconds())
            sends.append((c, policy, str(vendor.webhook_url), send))
    return sends


async def _record(rt: Runtime, outcomes: list[cases.Outcome]) -> None:
    """Record outcomes in one transaction; should that fail, each on its own.

    An outcome that cannot be recorded twice over is dead-lettered (its data, not the database,
    is the likely cause); if even that fails, its lease runs out and it is retried, same webhook-id.
    """
    deps: GatewayDeps = rt.state["deps"]
    for outcome in outcomes:
        metrics.ATTEMPT_SECONDS.labels(outcome.claimed.vendor).observe(outcome.result.latency_seconds)
    try:
        async with rt.unit_of_work() as session:
            await cases.record_attempts(session, deps, outcomes)
        return
    except Exception:  # noqa: BLE001 - record one by one, so one bad outcome costs only itself
        _log.warning("batch_not_recorded", deliveries=len(outcomes), exc_info=True)
    for outcome in outcomes:
        failure = ""
        for _ in range(2):
            try:
                async with rt.unit_of_work() as session:
                    await cases.record_attempts(session, deps, [outcome])
                break
            except Exception as exc:  # noqa: BLE001
                failure = type(exc).__name__
                _log.warning("attempt_not_recorded", delivery_id=outcome.claimed.id, exc_info=True)
        else:
            try:
                async with rt.unit_of_work() as session:
                    await cases.dead_letter_unrecorded(session, deps, outcome.claimed, failure)
            except Exception:  # noqa: BLE001 - the lease brings it back
                _log.warning("attempt_not_dead_lettered", delivery_id=outcome.claimed.id, exc_info=True)


async def _final(error: str) -> sender.AttemptResult:
    return sender.AttemptResult(None, 0.0, "", error, None, final=True)


async def _send(
    deps: GatewayDeps, client: aiohttp.ClientSession, claimed: ClaimedDelivery, vendor: Vendor, timeout: float
) -> sender.AttemptResult:
    """Sign and POST to the vendor's current endpoint with its current secrets."""
    url = str(vendor.webhook_url)
    try:
        ssrf.check_url(url, deps.delivery.allow_hosts)  # names are checked as they resolve (sender.client)
        headers = webhooks.signed_headers(vendor.secrets, claimed.id, deps.clock.now(), claimed.body)
        return await sender.post(client, url, claimed.body, headers, timeout)
    except ssrf.Refused as exc:
        return await _final(f"refused by the SSRF guard: {exc}")
    except Exception as exc:  # noqa: BLE001 - a fault here costs this attempt, not the batch's outcomes
        _log.warning("attempt_failed_internally", delivery_id=claimed.id, exc_info=True)
        return sender.AttemptResult(None, 0.0, "", f"internal error: {type(exc).__name__}", None)


async def deliver_webhooks(rt: Runtime) -> None:
    """Keep up to a batch of attempts in flight; record finished ones together, claim more as slots free.

    A vendor that stalls holds only its own slots until its timeout: the others keep flowing.
    """
    deps: GatewayDeps = rt.state["deps"]
    capacity = rt.settings.delivery_batch_size
    poll = rt.settings.delivery_poll_seconds
    # An attempt may take up to the longest timeout; the lease keeps others off it a while longer.
    lease = MAX_TIMEOUT + timedelta(seconds=30)
    in_flight: dict[
        asyncio.Task[sender.AttemptResult], tuple[ClaimedDelivery, DeliveryPolicy, str | None]
    ] = {}
    async with sender.client(deps.delivery.allow_hosts) as client:
        try:
            while True:
                free, claimed = capacity - len(in_flight), []
                if free > 0:
                    async with rt.unit_of_work() as session:
                        claimed = await cases.claim_due_deliveries(session, deps, limit=free, lease=lease)
                    for c, policy, url, send in await _sends(rt, client, claimed) if claimed else []:
                        in_flight[asyncio.create_task(send)] = (c, policy, url)
                if not in_flight:
                    await asyncio.sleep(poll)
                    continue
                more_due = free > 0 and len(claimed) == free
                done, _ = await asyncio.wait(in_flight, timeout=RECORD_EVERY_SECONDS if more_due else poll)
                if done:
                    finished = [(in_flight.pop(task), task.result()) for task in done]
                    await _record(rt, [cases.Outcome(c, r, p, u) for (c, p, u), r in finished])
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)


async def delivery_gauges(rt: Runtime) -> None:
    """Queue depth and dead letters, for dashboards and alerts."""
    while True:
        async with rt.sessions() as session:
            rows = await session.execute(
                select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
            )
            counts = dict(rows.all())
        for status in ("pending", "delivered", "dead"):
            metrics.QUEUE.labels(status).set(counts.get(status, 0))
        await asyncio.sleep(15)
