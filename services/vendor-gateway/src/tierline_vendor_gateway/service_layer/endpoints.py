"""The vendor registry as the case and delivery use cases read it: vendors' current endpoints and state.

The one place these use cases reach the registry, so its shape can change behind it.
"""

from __future__ import annotations

from collections.abc import Iterable

from tierline_vendor_gateway.service_layer import registry
from tierline_vendor_gateway.service_layer.deps import GatewayDeps
from tierline_vendor_gateway.service_layer.registry import Registered
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

GONE_REASON = "HTTP 410 Gone from its endpoint"

__all__ = ["Registered", "current", "disable_gone", "find"]


async def current(uow: GatewayUnitOfWork, names: Iterable[str]) -> dict[str, Registered]:
    """The named vendors as registered now, in one query."""
    return await registry.load(uow, names)


async def find(uow: GatewayUnitOfWork, name: str) -> Registered | None:
    return await registry.find(uow, name)


async def disable_gone(uow: GatewayUnitOfWork, deps: GatewayDeps, vendor: str) -> None:
    """Switch off a vendor whose endpoint answered 410 Gone, and announce it."""
    await registry.switch(uow, deps, vendor, enabled=False, reason=GONE_REASON)
