"""One attempt at each claimed delivery: to its vendor as the registry describes it now, signed, bounded."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from tierline_shared import ssrf
from tierline_shared.logging import get_logger
from tierline_vendor_gateway.adapters import sender, webhooks
from tierline_vendor_gateway.domain.vendors import Vendor
from tierline_vendor_gateway.domain.webhook import AttemptResult, ClaimedDelivery
from tierline_vendor_gateway.service_layer import endpoints
from tierline_vendor_gateway.service_layer.deliveries import Outcome
from tierline_vendor_gateway.service_layer.deps import DeliveryPolicy, GatewayDeps
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

_log = get_logger(__name__)


@dataclass(frozen=True)
class Attempt:
    """A claimed delivery's attempt, ready to run: ``send`` answers what ``outcome`` records."""

    claimed: ClaimedDelivery
    policy: DeliveryPolicy
    url: str | None  # None: no request is made (vendor unknown or disabled)
    send: Coroutine[Any, Any, AttemptResult]

    def outcome(self, result: AttemptResult) -> Outcome:
        return Outcome(self.claimed, result, self.policy, self.url)


def client(deps: GatewayDeps) -> aiohttp.ClientSession:
    """The worker's one HTTP client, its names resolved through the SSRF guard."""
    return sender.client(deps.delivery.allow_hosts)


async def prepare(
    uow: GatewayUnitOfWork, deps: GatewayDeps, http: aiohttp.ClientSession, claimed: list[ClaimedDelivery]
) -> list[Attempt]:
    """One attempt per claimed delivery, to its vendor as the registry describes it now.

    Vendors are read once per claim, so an edit (new endpoint, rotated secret, disabled
    endpoint) applies from the next claim on, on every replica.
    """
    vendors = await endpoints.current(uow, {c.vendor for c in claimed})
    policies = {name: deps.delivery.for_vendor(r.vendor) for name, r in vendors.items()}
    attempts: list[Attempt] = []
    for c in claimed:
        registered = vendors.get(c.vendor)
        if registered is None:
            attempts.append(Attempt(c, deps.delivery, None, _final("the vendor is no longer registered")))
        elif not registered.is_enabled:
            reason = f"the vendor's endpoint is disabled: {registered.disabled_reason}"
            attempts.append(Attempt(c, deps.delivery, None, _final(reason)))
        else:
            vendor, policy = registered.vendor, policies[c.vendor]
            send = _send(deps, http, c, vendor, policy.timeout.total_seconds())
            attempts.append(Attempt(c, policy, str(vendor.webhook_url), send))
    return attempts


async def _final(error: str) -> AttemptResult:
    return AttemptResult(None, 0.0, "", error, None, final=True)


async def _send(
    deps: GatewayDeps, http: aiohttp.ClientSession, claimed: ClaimedDelivery, vendor: Vendor, timeout: float
) -> AttemptResult:
    """Sign and POST to the vendor's current endpoint with its current secrets."""
    url = str(vendor.webhook_url)
    try:
        # names are checked as they resolve (sender.client)
        ssrf.check_url(url, deps.delivery.allow_hosts, hint=sender.SSRF_HINT)
        headers = webhooks.signed_headers(vendor.secrets, claimed.id, deps.clock.now(), claimed.body)
        return await sender.post(http, url, claimed.body, headers, timeout)
    except ssrf.Refused as exc:
        return await _final(f"refused by the SSRF guard: {exc}")
    except Exception as exc:  # noqa: BLE001 - a fault here costs this attempt, not the batch's outcomes
        _log.warning("attempt_failed_internally", delivery_id=claimed.id, exc_info=True)
        return AttemptResult(None, 0.0, "", f"internal error: {type(exc).__name__}", None)
