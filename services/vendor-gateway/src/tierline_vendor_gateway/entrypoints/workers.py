"""The delivery worker: claims due webhook deliveries, signs and sends them, records outcomes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from sqlalchemy import func, select

from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime
from tierline_vendor_gateway import metrics
from tierline_vendor_gateway.adapters import sender, ssrf, webhooks
from tierline_vendor_gateway.adapters.orm import DeliveryRow
from tierline_vendor_gateway.domain.vendors import MAX_TIMEOUT, Vendor
from tierline_vendor_gateway.service_layer import cases, registry
from tierline_vendor_gateway.service_layer.cases import ClaimedDelivery
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

_log = get_logger(__name__)


async def _attempt(rt: Runtime, client: aiohttp.ClientSession, claimed: ClaimedDelivery) -> None:
    await _attempt_batch(rt, client, [claimed])


async def _attempt_batch(rt: Runtime, client: aiohttp.ClientSession, claimed: list[ClaimedDelivery]) -> None:
    """Send a claimed batch concurrently, then record every outcome in one transaction.

    Vendors are read from the registry once per batch, so an edit (new endpoint, rotated
    secret, disabled endpoint) applies from the next batch on, on every replica. Should the
    recording transaction fail, each outcome is recorded on its own: one that still fails is
    retried when its lease runs out (same webhook-id), and the others are kept.
    """
    deps: GatewayDeps = rt.state["deps"]
    async with rt.sessions() as session:
        vendors = await registry.load(session, {c.vendor for c in claimed})

    async def one(c: ClaimedDelivery) -> sender.AttemptResult:
        registered = vendors.get(c.vendor)
        if registered is None:
            return _final("the vendor is no longer registered")
        if not registered.is_enabled:
            return _final(f"the vendor's endpoint is disabled: {registered.disabled_reason}")
        return await _send(deps, client, c, registered.vendor)

    results = await asyncio.gather(*(one(c) for c in claimed))
    outcomes = []
    for c, result in zip(claimed, results, strict=True):
        metrics.ATTEMPT_SECONDS.labels(c.vendor).observe(result.latency_seconds)
        registered = vendors.get(c.vendor)
        policy = deps.delivery.for_vendor(registered.vendor) if registered else deps.delivery
        outcomes.append(cases.Outcome(c, result, policy))
    try:
        async with rt.unit_of_work() as session:
            await cases.record_attempts(session, deps, outcomes)
    except Exception:  # noqa: BLE001 - record one by one, so one bad outcome costs only itself
        _log.warning("batch_not_recorded", deliveries=len(outcomes), exc_info=True)
        for outcome in outcomes:
            try:
                async with rt.unit_of_work() as session:
                    await cases.record_attempts(session, deps, [outcome])
            except Exception:  # noqa: BLE001 - its lease runs out and it is retried, same webhook-id
                _log.warning("attempt_not_recorded", delivery_id=outcome.claimed.id, exc_info=True)


def _final(error: str) -> sender.AttemptResult:
    return sender.AttemptResult(None, 0.0, "", error, None, final=True)


async def _send(
    deps: GatewayDeps, client: aiohttp.ClientSession, claimed: ClaimedDelivery, vendor: Vendor
) -> sender.AttemptResult:
    """Sign and POST to the vendor's current endpoint with its current secrets."""
    url = str(vendor.webhook_url)
    try:
        ssrf.check_url(url, deps.delivery.allow_hosts)  # names are checked as they resolve (sender.client)
    except ssrf.Refused as exc:
        return _final(f"refused by the SSRF guard: {exc}")
    headers = webhooks.signed_headers(vendor.secrets, claimed.id, deps.clock.now(), claimed.body)
    timeout = deps.delivery.for_vendor(vendor).timeout.total_seconds()
    return await sender.post(client, url, claimed.body, headers, timeout)


async def deliver_webhooks(rt: Runtime) -> None:
    deps: GatewayDeps = rt.state["deps"]
    batch = rt.settings.delivery_batch_size
    # An attempt may take up to the longest timeout; the lease keeps others off it a while longer.
    lease = MAX_TIMEOUT + timedelta(seconds=30)
    async with sender.client(deps.delivery.allow_hosts) as client:
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
