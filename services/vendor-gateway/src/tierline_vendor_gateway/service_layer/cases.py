"""Handing an L4 case to the vendor the router chose: the case, and its signed delivery queued."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from tierline_shared.events import IncidentEscalated, VendorDeliveryFailed
from tierline_vendor_gateway.domain.case import Case
from tierline_vendor_gateway.domain.delivery import case_payload
from tierline_vendor_gateway.domain.snapshot import IncidentBrief
from tierline_vendor_gateway.domain.vendors import Contract, Vendor
from tierline_vendor_gateway.domain.webhook import Delivery
from tierline_vendor_gateway.service_layer import endpoints
from tierline_vendor_gateway.service_layer.deps import GatewayDeps
from tierline_vendor_gateway.service_layer.unit_of_work import GatewayUnitOfWork

UNREGISTERED = "the vendor is not registered in the gateway"


async def open_case(uow: GatewayUnitOfWork, deps: GatewayDeps, event: IncidentEscalated) -> Case | None:
    """Queue a signed delivery of the case to the vendor the router chose."""
    if event.to_tier != "L4" or not event.vendor:
        return None
    registered = await endpoints.find(uow, event.vendor)
    now = deps.clock.now()
    case = Case.hand_off(uuid.uuid4(), event.incident_id, event.vendor, now)
    if registered is None:
        unregistered = case.fail(0, UNREGISTERED, now)
        uow.cases.add_case(case)
        await uow.announce(unregistered)
        return case
    uow.cases.add_case(case)
    brief = await uow.briefs.read(event.incident_id)
    body = _handoff(deps, case, registered.vendor, brief, event, now)
    delivery = Delivery.of(f"msg_{uuid.uuid4().hex}", case, str(registered.vendor.webhook_url), body, now)
    failed: VendorDeliveryFailed | None = None
    if not registered.is_enabled:
        reason = f"the vendor's endpoint is disabled: {registered.disabled_reason}"
        failed = delivery.hold(case, reason)
    uow.deliveries.add_delivery(delivery)
    uow.cases.save(case)
    if failed is not None:
        await uow.announce(failed)
    return case


def _handoff(
    deps: GatewayDeps,
    case: Case,
    vendor: Vendor,
    brief: IncidentBrief,
    event: IncidentEscalated,
    now: datetime,
) -> bytes:
    """The body POSTed to the vendor: the incident's brief, the escalation, where to call back."""
    public = deps.public_url.rstrip("/")
    links = {"case": f"{public}/v1/cases/{case.id}"}
    if deps.intake_url:
        links["incident"] = f"{deps.intake_url.rstrip('/')}/v1/incidents/{event.incident_id}"
    body = case_payload(
        case_id=str(case.id),
        vendor=vendor.name,
        incident=brief.for_vendor(),
        escalation={
            "from_tier": event.from_tier,
            "reason": event.reason,
            "note": event.note,
            "contract": _contract(event, vendor.contract),
        },
        callback_url=f"{public}/v1/vendors/{vendor.name}/callbacks",
        timestamp=now,
        links=links,
    )
    return json.dumps(body, separators=(",", ":")).encode()


def _contract(event: IncidentEscalated, registered: Contract | None) -> dict[str, Any] | None:
    """The contract the router chose, else the vendor's own from the registry."""
    if event.vendor_contract is not None:
        return event.vendor_contract.model_dump()
    return registered.in_seconds() if registered else None
