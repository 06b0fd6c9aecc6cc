"""Vendors' signed callbacks: who may sign them, and applying one to its case once."""

from __future__ import annotations

from tierline_shared.errors import NotFound
from tierline_vendor_gateway.adapters import webhooks
from tierline_vendor_gateway.domain.case import Callback
from tierline_vendor_gateway.service_layer import endpoints
from tierline_vendor_gateway.service_layer.deps import GatewayDeps
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

__all__ = ["Callback", "apply_callback", "callback_secrets", "verify"]


async def callback_secrets(uow: GatewayUnitOfWork, vendor: str) -> list[str]:
    """The secrets ``vendor`` signs its callbacks with; NotFound for a vendor not registered."""
    registered = await endpoints.find(uow, vendor)
    if registered is None:
        raise NotFound(f"No vendor named {vendor!r}.")
    return list(registered.vendor.callback_secrets)


def verify(secrets: list[str], body: bytes, headers: dict[str, str]) -> None:
    """Check the Standard Webhooks signature against any of ``secrets`` (401 otherwise)."""
    webhooks.verify(secrets, body, headers)


async def apply_callback(
    uow: GatewayUnitOfWork, deps: GatewayDeps, vendor: str, webhook_id: str, callback: Callback
) -> bool:
    """Apply a verified callback once; returns False when this webhook-id was seen before."""
    if not await uow.callbacks.first_time(webhook_id, vendor, deps.clock.now()):
        return False
    callback = callback.cleaned()
    case = await uow.cases.get_case(callback.case_id, lock=True)
    if case is None or case.vendor != vendor:
        raise NotFound(f"Vendor {vendor} has no case {callback.case_id}.")
    event = case.apply(callback, deps.clock.now())
    uow.cases.save(case)
    await uow.announce(event)
    return True
