"""Which consumed event starts, pauses, re-targets or stops which clock."""

from __future__ import annotations

from tierline_shared.events import (
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentEvent,
    IncidentPutOnHold,
    IncidentReopened,
    IncidentResolved,
    IncidentResumed,
    IncidentUpdated,
    VendorCaseAcknowledged,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
)
from tierline_shared.messaging.handlers import Consumed, Handlers
from tierline_sla_monitor.service_layer import clocks
from tierline_sla_monitor.service_layer.clocks import SlaDeps, SlaUnitOfWork


def uow(c: Consumed[SlaDeps]) -> SlaUnitOfWork:
    """The use case's view of the consumer's transaction."""
    return SlaUnitOfWork(c.session, c.deps.outbox)


def one_incident_at_a_time(event: IncidentEvent) -> str:
    """One incident's events may arrive on several topics at once: apply them one at a time."""
    return str(event.incident_id)


handlers: Handlers[SlaDeps] = Handlers(lock=one_incident_at_a_time)
bind = handlers.bind


@handlers.handles(IncidentCreated)
async def on_created(e: IncidentCreated, c: Consumed[SlaDeps]) -> None:
    await clocks.start_incident_clocks(uow(c), c.deps, e)


@handlers.handles(IncidentAssigned)
async def on_assigned(e: IncidentAssigned, c: Consumed[SlaDeps]) -> None:
    await clocks.restart_tier_clock(
        uow(c),
        c.deps,
        incident_id=e.incident_id,
        tier=e.tier,
        budget_seconds=e.tier_budget_seconds,
        at=e.assigned_at,
        entered_at=e.tier_entered_at,
    )


@handlers.handles(IncidentEscalated)
async def on_escalated(e: IncidentEscalated, c: Consumed[SlaDeps]) -> None:
    await clocks.restart_tier_clock(
        uow(c),
        c.deps,
        incident_id=e.incident_id,
        tier=e.to_tier,
        budget_seconds=e.tier_budget_seconds,
        at=e.escalated_at,
    )
    if e.to_tier == "L4" and e.vendor:
        contract = e.vendor_contract
        await clocks.start_vendor_clocks(
            uow(c),
            c.deps,
            e.incident_id,
            vendor=e.vendor,
            response_seconds=contract.response_seconds if contract else None,
            resolution_seconds=contract.resolution_seconds if contract else None,
            at=e.escalated_at,
        )
    elif e.from_tier == "L4":
        await clocks.cancel_vendor_clocks(uow(c), e.incident_id, e.escalated_at)


@handlers.handles(IncidentAcknowledged)
async def on_acknowledged(e: IncidentAcknowledged, c: Consumed[SlaDeps]) -> None:
    await clocks.stop_response_clock(uow(c), c.deps, e.incident_id, e.acknowledged_at)


@handlers.handles(IncidentResolved)
async def on_resolved(e: IncidentResolved, c: Consumed[SlaDeps]) -> None:
    await clocks.stop_all_clocks(uow(c), c.deps, e.incident_id, e.resolved_at)


@handlers.handles(IncidentUpdated)
async def on_updated(e: IncidentUpdated, c: Consumed[SlaDeps]) -> None:
    if {"priority", "service", "type"} & e.changes.keys():
        await clocks.recalculate(
            uow(c),
            c.deps,
            e.incident_id,
            priority=e.priority,
            service=e.service,
            type=e.type if "type" in e.model_fields_set else None,  # absent (an older intake): kept
            at=e.updated_at,
        )


@handlers.handles(IncidentPutOnHold)
async def on_hold(e: IncidentPutOnHold, c: Consumed[SlaDeps]) -> None:
    await clocks.pause_for_hold(uow(c), c.deps, e.incident_id, e.reason, e.at)


@handlers.handles(IncidentResumed)
async def on_resumed(e: IncidentResumed, c: Consumed[SlaDeps]) -> None:
    await clocks.resume(uow(c), c.deps, e.incident_id, e.at)


@handlers.handles(IncidentReopened)
async def on_reopened(e: IncidentReopened, c: Consumed[SlaDeps]) -> None:
    await clocks.restart_after_reopen(uow(c), c.deps, e.incident_id, e.priority, e.reopened_at)


@handlers.handles(VendorCaseUpdated)
async def on_vendor_updated(e: VendorCaseUpdated, c: Consumed[SlaDeps]) -> None:
    await clocks.stop_vendor_clocks(
        uow(c), c.deps, e.incident_id, e.updated_at, vendor=e.vendor, resolved=False
    )


@handlers.handles(VendorCaseAcknowledged)
async def on_vendor_acknowledged(e: VendorCaseAcknowledged, c: Consumed[SlaDeps]) -> None:
    await clocks.stop_vendor_clocks(
        uow(c), c.deps, e.incident_id, e.acknowledged_at, vendor=e.vendor, resolved=False
    )


@handlers.handles(VendorCaseResolved)
async def on_vendor_resolved(e: VendorCaseResolved, c: Consumed[SlaDeps]) -> None:
    await clocks.stop_vendor_clocks(
        uow(c), c.deps, e.incident_id, e.resolved_at, vendor=e.vendor, resolved=True
    )


@handlers.handles(VendorCaseRejected, VendorDeliveryFailed)
async def on_vendor_gone(e: VendorCaseRejected | VendorDeliveryFailed, c: Consumed[SlaDeps]) -> None:
    at = e.rejected_at if isinstance(e, VendorCaseRejected) else e.failed_at
    await clocks.cancel_vendor_clocks(uow(c), e.incident_id, at, vendor=e.vendor)
