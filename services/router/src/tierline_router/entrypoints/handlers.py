"""Which consumed event drives which routing use case."""

from __future__ import annotations

from tierline_router.service_layer import escalation, lifecycle, placement, updates, vendor_returns
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.events import (
    IncidentAcknowledged,
    IncidentCreated,
    IncidentReopened,
    IncidentResolved,
    IncidentUpdated,
    SlaBreached,
    VendorCaseRejected,
    VendorChanged,
    VendorDeliveryFailed,
)
from tierline_shared.messaging.handlers import Consumed, Handlers

handlers: Handlers[RouterDeps] = Handlers()
bind = handlers.bind


def _uow(c: Consumed[RouterDeps]) -> RouterUnitOfWork:
    return RouterUnitOfWork(c.session, c.deps.outbox)


@handlers.handles(IncidentCreated)
async def on_created(event: IncidentCreated, c: Consumed[RouterDeps]) -> None:
    await placement.assign_new_incident(_uow(c), c.deps, event)


@handlers.handles(SlaBreached)
async def on_breached(event: SlaBreached, c: Consumed[RouterDeps]) -> None:
    if event.clock == "tier" and event.tier:
        await escalation.escalate_when_due(
            _uow(c), c.deps, event.incident_id, tier=event.tier, reason="sla_breach"
        )


@handlers.handles(IncidentAcknowledged)
async def on_acknowledged(event: IncidentAcknowledged, c: Consumed[RouterDeps]) -> None:
    await lifecycle.acknowledge(_uow(c), c.deps, event.incident_id)


@handlers.handles(IncidentResolved)
async def on_resolved(event: IncidentResolved, c: Consumed[RouterDeps]) -> None:
    await lifecycle.release(_uow(c), c.deps, event.incident_id)


@handlers.handles(IncidentUpdated)
async def on_updated(event: IncidentUpdated, c: Consumed[RouterDeps]) -> None:
    await updates.apply_update(_uow(c), c.deps, event)


@handlers.handles(IncidentReopened)
async def on_reopened(event: IncidentReopened, c: Consumed[RouterDeps]) -> None:
    await lifecycle.reactivate(_uow(c), c.deps, event.incident_id)


@handlers.handles(VendorCaseRejected)
async def on_vendor_rejected(event: VendorCaseRejected, c: Consumed[RouterDeps]) -> None:
    await vendor_returns.return_from_vendor(
        _uow(c), c.deps, event.incident_id, vendor=event.vendor, reason="vendor_rejected", note=event.reason
    )


@handlers.handles(VendorDeliveryFailed)
async def on_delivery_failed(event: VendorDeliveryFailed, c: Consumed[RouterDeps]) -> None:
    await vendor_returns.return_from_vendor(
        _uow(c),
        c.deps,
        event.incident_id,
        vendor=event.vendor,
        reason="vendor_unreachable",
        note=f"Delivery failed after {event.attempts} attempts: {event.last_error}",
    )


@handlers.handles(VendorChanged)
async def on_vendor_changed(event: VendorChanged, c: Consumed[RouterDeps]) -> None:
    await vendor_returns.list_vendor(_uow(c), event)
