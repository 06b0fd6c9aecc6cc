"""The vendor registry: vendors from vendors.yaml at start or the admin API, and their endpoint state.

A vendor's description (endpoint, secrets, products, contract, retry policy) lives in
``vendors``; whether its endpoint is enabled lives in ``vendor_state``, because a 410 Gone,
an operator or the file may switch it off independently of edits to the description.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.catalog import resource
from tierline_shared.catalog.repository import CatalogRepository
from tierline_shared.config_files import ConfigError
from tierline_shared.errors import InvalidInput, NotFound
from tierline_shared.events import VendorChanged
from tierline_shared.events.routing import VendorContract
from tierline_shared.logging import get_logger
from tierline_vendor_gateway.adapters import ssrf
from tierline_vendor_gateway.adapters.orm import VendorRow, VendorStateRow
from tierline_vendor_gateway.config import VendorsConfig
from tierline_vendor_gateway.domain.vendors import Vendor, VendorSpec
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

_log = get_logger(__name__)
CONFIG, API = resource.CONFIG, resource.API
REGISTRY_LOCK = "tierline.vendor-gateway.registry"


@dataclass(frozen=True)
class Registered:
    """A vendor as the registry holds it, with its endpoint's state."""

    vendor: Vendor
    is_enabled: bool
    disabled_reason: str | None
    managed_by: str
    created_at: datetime
    updated_at: datetime


def _spec(vendor: VendorSpec) -> dict[str, Any]:
    return vendor.model_dump(mode="json", exclude={"name"})


def _vendor_of(row: VendorRow) -> Vendor:
    return Vendor.model_validate({**row.spec, "name": row.name})


VENDORS = resource.Resource[VendorRow, Vendor](
    row=VendorRow, what="vendor", article="a", item_of=_vendor_of, columns=lambda v: {"spec": _spec(v)}
)


def vendors(session: AsyncSession) -> resource.Catalog[VendorRow, Vendor]:
    return resource.Catalog(VENDORS, CatalogRepository(session, VendorRow, what="vendor"))


def _registered(row: VendorRow, state: VendorStateRow | None) -> Registered:
    return Registered(
        vendor=_vendor_of(row),
        is_enabled=state is None or state.is_enabled,
        disabled_reason=None if state is None or state.is_enabled else state.reason,
        managed_by=row.managed_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def load(session: AsyncSession, names: Iterable[str] | None = None) -> dict[str, Registered]:
    """Registered vendors by name (all, or those named), with their state, in one query."""
    stmt = select(VendorRow, VendorStateRow).outerjoin(
        VendorStateRow, VendorStateRow.vendor == VendorRow.name
    )
    if names is not None:
        stmt = stmt.where(VendorRow.name.in_(set(names)))
    stmt = stmt.order_by(VendorRow.name).execution_options(populate_existing=True)
    rows = (await session.execute(stmt)).all()
    return {row.name: _registered(row, state) for row, state in rows}


async def find(session: AsyncSession, name: str) -> Registered | None:
    return (await load(session, [name])).get(name)


async def get(session: AsyncSession, name: str, *, lock: bool = False) -> Registered:
    """One vendor; ``lock`` holds its row until the transaction ends (read, merge, then update)."""
    row = await vendors(session).found(name, lock=lock)
    # populate_existing: set_enabled writes the state with a Core statement the session has not seen
    return _registered(row, await session.get(VendorStateRow, name, populate_existing=True))


async def set_enabled(
    session: AsyncSession, deps: GatewayDeps, vendor: str, enabled: bool, reason: str | None
) -> None:
    now = deps.clock.now()
    values = {"is_enabled": enabled, "reason": reason, "updated_at": now}
    await session.execute(
        insert(VendorStateRow)
        .values(vendor=vendor, **values)
        .on_conflict_do_update(index_elements=[VendorStateRow.vendor], set_=values)
    )


async def announce(session: AsyncSession, deps: GatewayDeps, name: str) -> Registered:
    """Tell the other services what the vendor serves and whether it takes cases (never secrets).

    The revision is bumped under the vendor's row lock before its state is read, so of two
    transactions announcing one vendor the later to commit carries the higher revision and
    the state it saw is the latest: the router keeps the highest.
    """
    revision = await session.scalar(
        sql_update(VendorRow)
        .where(VendorRow.name == name)
        .values(revision=VendorRow.revision + 1)
        .returning(VendorRow.revision)
    )
    if revision is None:
        raise NotFound(f"There is no vendor {name!r}.", name=name)
    registered = await get(session, name)
    vendor, contract = registered.vendor, registered.vendor.contract
    await deps.outbox.add(
        session,
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
        warning = await ssrf.vet(url, deps.delivery.allow_hosts)
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
        *(ssrf.vet(str(v.webhook_url), allow) for v in vendors), return_exceptions=True
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


async def apply_config(session: AsyncSession, deps: GatewayDeps, config: VendorsConfig) -> None:
    """Make the registry hold the file's vendors (vendors made through the API stay).

    A vendor whose webhook the SSRF guard refuses stops the start (ConfigError naming it).
    ``enabled: false`` in the file disables a vendor at every start; ``true`` never re-enables
    an endpoint a 410 Gone or an operator switched off.
    """
    declared_vendors = [declared.to_vendor() for declared in config.vendors]
    await _vet_config(deps, declared_vendors)
    catalog = vendors(session)
    await catalog.repo.lock(REGISTRY_LOCK)  # replicas starting together
    await catalog.apply_config(declared_vendors, deps.clock.now())
    for declared in config.vendors:
        if not declared.enabled:
            await set_enabled(session, deps, declared.name, False, "disabled in vendors.yaml")
    # Every vendor, the API's too: a router that missed events (retention, a rebuilt database) catches up.
    for name in sorted(await load(session)):
        await announce(session, deps, name)
    _log.info("vendors_config_applied", vendors=len(config.vendors))


async def create(session: AsyncSession, deps: GatewayDeps, vendor: Vendor, *, enabled: bool) -> Registered:
    await vendors(session).add_new(vendor, deps.clock.now())
    await set_enabled(session, deps, vendor.name, enabled, None if enabled else "disabled when registered")
    return await announce(session, deps, vendor.name)


async def update(session: AsyncSession, deps: GatewayDeps, vendor: Vendor) -> Registered:
    """Replace a vendor's description; pending deliveries' next attempts use the new endpoint and secrets."""
    catalog = vendors(session)
    await catalog.replace(await catalog.found(vendor.name), vendor, deps.clock.now())
    await session.flush()
    return await announce(session, deps, vendor.name)


async def switch(
    session: AsyncSession, deps: GatewayDeps, name: str, *, enabled: bool, reason: str | None = None
) -> Registered:
    """Enable or disable a vendor's endpoint (by hand, or on a 410 Gone) and announce it.

    The vendor's row is locked first, as every change to a vendor does, so two changes to
    one vendor never wait on each other in opposite orders.
    """
    await vendors(session).found(name)
    await set_enabled(session, deps, name, enabled, None if enabled else reason or "disabled by an operator")
    _log.info("vendor_switched", vendor=name, enabled=enabled, reason=reason)
    return await announce(session, deps, name)
