"""The delivery worker: claims due webhook deliveries, signs and sends them, records outcomes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime
from tierline_vendor_gateway import metrics
from tierline_vendor_gateway.adapters import sender, ssrf, webhooks
from tierline_vendor_gateway.adapters.orm import DeliveryRow
from tierline_vendor_gateway.service_layer import cases
from tierline_vendor_gateway.service_layer.cases import ClaimedDelivery, GatewayDeps

_log = get_logger(__name__)


async def _attempt(rt: Runtime, client: httpx.AsyncClient, claimed: ClaimedDelivery) -> None:
    await _attempt_batch(rt, client, [claimed])


async def _attempt_batch(rt: Runtime, client: httpx.AsyncClient, claimed: list[ClaimedDelivery]) -> None:
    """Send a claimed batch concurrently, then record every outcome in one transaction.

    Should that transaction fail, each outcome is recorded on its own: one that still fails is
    retried when its lease runs out (same webhook-id), and the others are kept.
    """
    deps: GatewayDeps = rt.state["deps"]
    async with rt.sessions() as session:
        disabled = await cases.disabled_vendors(session, {c.vendor for c in claimed})

    async def one(c: ClaimedDelivery) -> sender.AttemptResult:
        if c.vendor in disabled:
            return _final("the vendor's endpoint is disabled")
        return await _send(deps, client, c)

    results = await asyncio.gather(*(one(c) for c in claimed))
    for c, result in zip(claimed, results, strict=True):
        metrics.ATTEMPT_SECONDS.labels(c.vendor).observe(result.latency_seconds)
    outcomes = list(zip(claimed, results, strict=True))
    try:
        async with rt.unit_of_work() as session:
            for c, result in outcomes:
                await cases.record_attempt(session, deps, c, result)
    except Exception:  # noqa: BLE001 - record one by one, so one bad outcome costs only itself
        _log.warning("batch_not_recorded", deliveries=len(outcomes), exc_info=True)
        for c, result in outcomes:
            try:
                async with rt.unit_of_work() as session:
                    await cases.record_attempt(session, deps, c, result)
            except Exception:  # noqa: BLE001 - its lease runs out and it is retried, same webhook-id
                _log.warning("attempt_not_recorded", delivery_id=c.id, exc_info=True)


def _final(error: str) -> sender.AttemptResult:
    return sender.AttemptResult(None, 0.0, "", error, None, final=True)


async def _send(
    deps: GatewayDeps, client: httpx.AsyncClient, claimed: ClaimedDelivery
) -> sender.AttemptResult:
    vendor = deps.vendors.vendor(claimed.vendor)
    if vendor is None:
        return _final("vendor removed from configuration")
    try:
        await ssrf.check(claimed.url, deps.vendors.delivery.allow_hosts)
    except ssrf.Refused as exc:
        return _final(f"refused by the SSRF guard: {exc}")
    try:
        headers = webhooks.signed_headers(
            vendor.signing_secrets(), claimed.id, deps.clock.now(), claimed.body
        )
    except Exception as exc:  # noqa: BLE001 - an unusable secret fails this attempt, not the worker
        return sender.AttemptResult(None, 0.0, "", f"cannot sign: {type(exc).__name__}", None)
    return await sender.post(
        client, claimed.url, claimed.body, headers, deps.vendors.delivery.timeout.total_seconds()
    )


async def deliver_webhooks(rt: Runtime) -> None:
    deps: GatewayDeps = rt.state["deps"]
    batch = rt.settings.delivery_batch_size
    # An attempt may take up to the timeout; the lease keeps others off it a while longer.
    lease = deps.vendors.delivery.timeout + timedelta(seconds=30)
    async with httpx.AsyncClient(headers={"user-agent": "Tierline-Webhooks/1"}) as client:
        while True:
            async with rt.unit_of_work() as session:
                claimed = await cases.claim_due_deliveries(session, deps, limit=batch, lease=lease)
            if claimed:
                await _attempt_batch(rt, client, claimed)
            if len(claimed) < batch:
                await asyncio.sleep(rt.settings.delivery_poll_seconds)


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
