"""The delivery worker: claims due webhook deliveries, signs and sends them, records outcomes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from tierline_shared.runtime import Runtime
from tierline_vendor_gateway.adapters import sender, webhooks
from tierline_vendor_gateway.service_layer import cases
from tierline_vendor_gateway.service_layer.cases import ClaimedDelivery, GatewayDeps


async def _attempt(rt: Runtime, client: httpx.AsyncClient, claimed: ClaimedDelivery) -> None:
    deps: GatewayDeps = rt.state["deps"]
    vendor = deps.vendors.vendor(claimed.vendor)
    timeout = deps.vendors.delivery.timeout.total_seconds()
    if vendor is None:
        result = sender.AttemptResult(None, 0.0, "", "vendor removed from configuration", None)
    else:
        try:
            headers = webhooks.signed_headers(
                vendor.signing_secret(), claimed.id, deps.clock.now(), claimed.body
            )
        except Exception as exc:  # noqa: BLE001 - an unusable secret fails this attempt, not the worker
            result = sender.AttemptResult(None, 0.0, "", f"cannot sign: {type(exc).__name__}", None)
        else:
            result = await sender.post(client, claimed.url, claimed.body, headers, timeout)
    async with rt.unit_of_work() as session:
        await cases.record_attempt(session, deps, claimed, result)


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
                await asyncio.gather(*(_attempt(rt, client, c) for c in claimed))
            if len(claimed) < batch:
                await asyncio.sleep(rt.settings.delivery_poll_seconds)
