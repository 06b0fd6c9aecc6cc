"""The vendor registry: vendors from vendors.yaml at start or the admin API, and their endpoint state.

A vendor's description (endpoint, secrets, products, contract, retry policy) and whether its
endpoint is enabled are stored apart (``adapters.registry``): a 410 Gone, an operator or the
file may switch it off independently of edits to the description.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Protocol

from tierline_shared import ssrf
from tierline_shared.catalog import resource
from tierline_shared.config_files import ConfigError
from tierline_shared.errors import InvalidInput, NotFound
from tierline_shared.events import VendorChanged
from tierline_shared.events.routing import VendorContract
from tierline_shared.logging import get_logger
from tierline_vendor_gateway.adapters.registry import Registered
from tierline_vendor_gateway.adapters.sender import SSRF_HINT
from tierline_vendor_gateway.domain.vendors import Vendor
from tierline_vendor_gateway.service_layer.deps import GatewayDeps
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

__all__ = ["API", "CONFIG", "VET_DNS_TIMEOUT_SECONDS", "Registered"]

_log = get_logger(__name__)
CONFIG, API = resource.CONFIG, resource.API
REGISTRY_LOCK = "tierline.vendor-gateway.registry"
# how long vetting a webhook's host name waits for DNS before accepting it with a warning
VET_DNS_TIMEOUT_SECONDS = ssrf.VET_DNS_TIMEOUT_SECONDS


class DeclaredVendor(Protocol):
    """A vendor as vendors.yaml declares it (config.VendorConfig)."""

    @property
    def name(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    def to_vendor(self) -> Vendor: ...


class DeclaredVendors(Protocol):
    """The vendors of vendors.yaml (config.VendorsConfig)."""

    @property
    def vendors(self) -> Sequence[DeclaredVendor]: ...


async def load(uow: GatewayUnitOfWork, names: Iterable[str] | None = None) -> dict[str, Registered]:
    """Registered vendors by name (all, or those named), with their state, in one query."""
    return await uow.vendor_states.load(names)


async def list_all(uow: GatewayUnitOfWork) -> list[Registered]:
    """Every registered vendor, by name."""
    return list((await load(uow)).values())


async def find(uow: GatewayUnitOfWork, name: str) -> Registered | None:
    return (await load(uow, [name])).get(name)


async def get(uow: GatewayUnitOfWork, name: str, *, lock: bool = False) -> Registered:
    """One vendor; ``lock`` holds its row until the transaction ends (read, merge, then update)."""
    return await uow.vendor_states.of(await uow.vendors.found(name, lock=lock))


async def set_enabled(
    uow: GatewayUnitOfWork, deps: GatewayDeps, vendor: str, enabled: bool, reason: str | None
) -> None:
    await uow.vendor_states.set_enabled(vendor, enabled, reason, deps.clock.now())


async def announce(uow: GatewayUnitOfWork, deps: GatewayDeps, name: str) -> Registered:
    """Tell the other services what the vendor serves and whether it takes cases (never secrets).

    The revision is bumped under the vendor's row lock before its state is read, so of two
    transactions announcing one vendor the later to commit carries the higher revision and
    the state it saw is the latest: the router keeps the highest.
    """
    revision = await uow.vendor_states.next_revision(name)
    if revision is None:
        raise NotFound(f"There is no vendor {name!r}.", name=name)
    registered = await get(uow, name)
    vendor, contract = registered.vendor, registered.vendor.contract
    await uow.announce(
        VendorChanged(
            vendor=vendor.name,
            products=vendor.products,
            categories=vendor.categories,
            contract=VendorContract(**contract.in_seconds()) if contract else None,
            is_enabled=registered.is_enabled,
            revision=revision,
            changed_at=deps.clock.now(),
        ),
    )
    return registered


async def vet_webhook_url(deps: GatewayDeps, url: str) -> list[str]:
    """The SSRF guard's verdict on a URL being registered: a 422 naming ``webhook_url`` for what every
    delivery would refuse; a warning (returned and logged) for a host name that does not resolve yet."""
    try:
        warning = await ssrf.vet(url, deps.delivery.allow_hosts, hint=SSRF_HINT)
    except ssrf.Refused as exc:
        raise InvalidInput(
            f"The webhook URL is refused by the SSRF guard: {exc}.",
            errors=[{"field": "webhook_url", "pointer": "/webhook_url", "reason": str(exc)}],
        ) from None
    if warning is None:
        return []
    _log.warning("vendor_webhook_unresolved", reason=warning)  # the reason names the host, not the URL
    return [warning]


async def _vet_config(deps: GatewayDeps, vendors: list[Vendor]) -> None:
    """Refuse to start with a file vendor every delivery would refuse; all looked up at once."""
    allow = deps.delivery.allow_hosts
    verdicts = await asyncio.gather(
        *(ssrf.vet(str(v.webhook_url), allow, hint=SSRF_HINT) for v in vendors), return_exceptions=True
    )
    for vendor, verdict in zip(vendors, verdicts, strict=True):
        if isinstance(verdict, ssrf.Refused):
            raise ConfigError(
                f"vendor {vendor.name} in vendors.yaml: webhook_url is refused by the SSRF guard: {verdict}"
            )
        if isinstance(verdict, BaseException):
            raise verdict
        if verdict is not None:
            _log.warning("vendor_webhook_unresolved", vendor=vendor.name, reason=verdict)


async def apply_config(uow: GatewayUnitOfWork, deps: GatewayDeps, config: DeclaredVendors) -> None:
    """Make the registry hold the file's vendors (vendors made through the API stay).

    A vendor whose webhook the SSRF guard refuses stops the start (ConfigError naming it).
    ``enabled: false`` in the file disables a vendor at every start; ``true`` never re-enables
    an endpoint a 410 Gone or an operator switched off.
    """
    declared_vendors = [declared.to_vendor() for declared in config.vendors]
    await _vet_config(deps, declared_vendors)
    await uow.lock(REGISTRY_LOCK)  # replicas starting together
    await uow.vendors.apply_config(declared_vendors, deps.clock.now())
    for declared in config.vendors:
        if not declared.enabled:
            await set_enabled(uow, deps, declared.name, False, "disabled in vendors.yaml")
    # Every vendor, the API's too: a router that missed events (retention, a rebuilt database) catches up.
    for name in sorted(await load(uow)):
        await announce(uow, deps, name)
    _log.info("vendors_config_applied", vendors=len(config.vendors))


async def create(uow: GatewayUnitOfWork, deps: GatewayDeps, vendor: Vendor, enabled: bool) -> Registered:
    await uow.vendors.add_new(vendor, deps.clock.now())
    await set_enabled(uow, deps, vendor.name, enabled, None if enabled else "disabled when registered")
    return await announce(uow, deps, vendor.name)


async def update(uow: GatewayUnitOfWork, deps: GatewayDeps, vendor: Vendor) -> Registered:
    """Replace a vendor's description; pending deliveries' next attempts use the new endpoint and secrets."""
    await uow.vendors.replace(await uow.vendors.found(vendor.name), vendor, deps.clock.now())
    await uow.flush()
    return await announce(uow, deps, vendor.name)


async def switch(
    uow: GatewayUnitOfWork, deps: GatewayDeps, name: str, *, enabled: bool, reason: str | None = None
) -> Registered:
    """Enable or disable a vendor's endpoint (by hand, or on a 410 Gone) and announce it.

    The vendor's row is locked first, as every change to a vendor does, so two changes to
    one vendor never wait on each other in opposite orders.
    """
    await uow.vendors.found(name)
    await set_enabled(uow, deps, name, enabled, None if enabled else reason or "disabled by an operator")
    _log.info("vendor_switched", vendor=name, enabled=enabled, reason=reason)
    return await announce(uow, deps, name)
