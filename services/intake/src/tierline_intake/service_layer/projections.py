"""The read model: what router and vendor gateway did, applied to the incident view.

Each function applies one consumed event (typed payload, and where it came from for the
timeline) inside the consumer's unit of work; the inbox makes redelivery harmless.
The SLA monitor's clocks are in sla_projections.
"""

from __future__ import annotations

from tierline_intake.service_layer.commands import ResolveIncident
from tierline_intake.service_layer.incidents import IntakeDeps, resolve_incident
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork, Origin
from tierline_shared.events import (
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
    VendorEndpointDisabled,
)

VENDOR_CLOCKS = ("vendor_response", "vendor_resolution")


# How a queue or agent came to hold the incident; a reason newer than this code reads as "routed".
_ASSIGNED_TO = {
    "routed": "Assigned to {who} in {where}",
    "reassigned": "Reassigned to {who} in {where}",
    "rerouted": "Rerouted to {who} in {where}",
    "dequeued": "Taken from queue {where} by {who}",
    "reopened": "Reopened and assigned to {who} in {where}",
    "priority_change": "Priority changed; assigned to {who} in {where}",
}
_WAITING_BECAUSE = {
    "reassigned": "Back in the queue",
    "rerouted": "Rerouted",
    "reopened": "Reopened",
    "priority_change": "Priority changed",
}


def _assignment_summary(event: IncidentAssigned) -> str:
    where = f"{event.queue} ({event.tier})"
    if event.assignee is None:
        lead = _WAITING_BECAUSE.get(event.reason)
        waiting = f"in queue {where} for a free agent"
        return f"{lead}: waiting {waiting}" if lead else f"Waiting {waiting}"
    template = _ASSIGNED_TO.get(event.reason, _ASSIGNED_TO["routed"])
    return template.format(who=event.assignee, where=where)


async def on_assigned(uow: IntakeUnitOfWork, event: IncidentAssigned, origin: Origin) -> None:
    incident = await uow.incidents.load(event.incident_id, lock=True)
    incident.assigned(tier=event.tier, queue=event.queue, assignee=event.assignee, at=event.assigned_at)
    uow.incidents.save(incident)
    uow.received(event, origin, at=event.assigned_at, kind="assigned", summary=_assignment_summary(event))


def _holder(event: IncidentEscalated) -> str:
    if event.to_tier == "L4" and event.vendor:
        return f"vendor {event.vendor}"
    if event.assignee:
        return f"{event.assignee} in {event.queue}" if event.queue else event.assignee
    if event.queue:
        return f"queue {event.queue} (waiting for a free agent)"
    return "nobody yet"


async def on_escalated(uow: IntakeUnitOfWork, event: IncidentEscalated, origin: Origin) -> None:
    """The incident changed tier, up (escalated) or down (handed back); the view follows either way."""
    incident = await uow.incidents.load(event.incident_id, lock=True)
    # only L4 has a vendor; a hand-back leaves the vendor's case on the timeline
    incident.escalated(
        tier=event.to_tier,
        queue=event.queue,
        assignee=event.assignee,
        vendor=event.vendor,
        at=event.escalated_at,
    )
    uow.incidents.save(incident)
    # The tier the incident left no longer runs its budget; nor does a vendor that handed it back.
    await uow.sla.cancel(event.incident_id, "tier", tier=event.from_tier)
    if event.from_tier == "L4" and event.to_tier != "L4":
        await uow.sla.cancel(event.incident_id, *VENDOR_CLOCKS)
    move = f"{event.from_tier} -> {event.to_tier} ({event.reason})"
    note = f": {event.note}" if event.note else ""
    if event.direction == "down":
        kind, summary = "de_escalated", f"De-escalated {move}, handed back to {_holder(event)}{note}"
    else:
        kind, summary = "escalated", f"Escalated {move} to {_holder(event)}{note}"
    uow.received(event, origin, at=event.escalated_at, kind=kind, summary=summary)


async def on_escalation_blocked(
    uow: IntakeUnitOfWork, event: IncidentEscalationBlocked, origin: Origin
) -> None:
    """An escalation was due but could not happen: the incident stays, the timeline says why."""
    await uow.incidents.load(event.incident_id)
    uow.received(
        event,
        origin,
        at=event.at,
        kind="escalation_blocked",
        summary=f"Escalation ({event.reason}) blocked at {event.tier}: {event.detail}",
    )


async def on_renotified(uow: IntakeUnitOfWork, event: IncidentRenotified, origin: Origin) -> None:
    await uow.incidents.load(event.incident_id)
    who = event.assignee or (f"queue {event.queue}" if event.queue else "the tier")
    attempt = f"attempt {event.attempt} of {event.of}"
    uow.received(
        event,
        origin,
        at=event.at,
        kind="renotified",
        summary=f"Not acknowledged: paged {who} again at {event.tier} ({attempt})",
    )


async def on_case_opened(uow: IntakeUnitOfWork, event: VendorCaseOpened, origin: Origin) -> None:
    incident = await uow.incidents.load(event.incident_id, lock=True)
    incident.handed_to_vendor(vendor=event.vendor, case_id=event.case_id, reference=event.vendor_reference)
    uow.incidents.save(incident)
    ref = f" (reference {event.vendor_reference})" if event.vendor_reference else ""
    uow.received(
        event,
        origin,
        at=event.opened_at,
        kind="vendor_case_opened",
        summary=f"Case handed to vendor {event.vendor}{ref}",
    )


async def on_case_updated(uow: IntakeUnitOfWork, event: VendorCaseUpdated, origin: Origin) -> None:
    incident = await uow.incidents.load(event.incident_id, lock=True)
    incident.vendor_said(event.vendor_reference)
    uow.incidents.save(incident)
    uow.received(
        event,
        origin,
        at=event.updated_at,
        kind="vendor_case_updated",
        summary=f"Vendor {event.vendor}: {event.status}" + (f" - {event.note}" if event.note else ""),
    )


async def on_case_acknowledged(uow: IntakeUnitOfWork, event: VendorCaseAcknowledged, origin: Origin) -> None:
    incident = await uow.incidents.load(event.incident_id, lock=True)
    incident.vendor_said(event.vendor_reference)
    uow.incidents.save(incident)
    ref = f" as {event.vendor_reference}" if event.vendor_reference else ""
    uow.received(
        event,
        origin,
        at=event.acknowledged_at,
        kind="vendor_case_acknowledged",
        summary=f"Vendor {event.vendor} took the case on{ref}" + (f" - {event.note}" if event.note else ""),
    )


async def on_case_rejected(uow: IntakeUnitOfWork, event: VendorCaseRejected, origin: Origin) -> None:
    """Timeline only: the router hands the incident back to L3 and says so in its own event."""
    await uow.incidents.load(event.incident_id)
    uow.received(
        event,
        origin,
        at=event.rejected_at,
        kind="vendor_case_rejected",
        summary=f"Vendor {event.vendor} rejected the case" + (f": {event.reason}" if event.reason else ""),
    )


async def on_endpoint_disabled(uow: IntakeUnitOfWork, event: VendorEndpointDisabled, origin: Origin) -> None:
    await uow.incidents.load(event.incident_id)
    uow.received(
        event,
        origin,
        at=event.disabled_at,
        kind="vendor_endpoint_disabled",
        summary=f"Vendor {event.vendor}'s webhook answered 410 Gone; deliveries to it are disabled",
    )


async def on_case_resolved(
    uow: IntakeUnitOfWork, deps: IntakeDeps, event: VendorCaseResolved, origin: Origin
) -> None:
    """The vendor fixed it: record that, and resolve the incident if it is still open."""
    incident = await uow.incidents.load(event.incident_id, lock=True)
    incident.vendor_said(event.vendor_reference)
    uow.incidents.save(incident)
    uow.received(
        event,
        origin,
        at=event.resolved_at,
        kind="vendor_case_resolved",
        summary=f"Vendor {event.vendor} resolved the case"
        + (f": {event.resolution}" if event.resolution else ""),
    )
    if not incident.resolved:
        await resolve_incident(
            uow,
            deps,
            incident.id,
            ResolveIncident(
                by=event.vendor, resolution_code="vendor_resolved", note=event.resolution, source="vendor"
            ),
        )


async def on_delivery_failed(uow: IntakeUnitOfWork, event: VendorDeliveryFailed, origin: Origin) -> None:
    await uow.incidents.load(event.incident_id)
    await uow.sla.cancel(event.incident_id, *VENDOR_CLOCKS)  # the vendor never got the case
    uow.received(
        event,
        origin,
        at=event.failed_at,
        kind="vendor_delivery_failed",
        summary=f"Handoff to {event.vendor} failed after {event.attempts} attempts: {event.last_error}",
    )
