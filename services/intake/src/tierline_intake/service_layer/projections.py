"""The read model: what router and vendor gateway did, applied to the incident view.

Each function handles one consumed event inside the consumer's unit of work;
the inbox makes redelivery harmless. The SLA monitor's clocks are in sla_projections.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.domain.lifecycle import Status
from tierline_intake.service_layer.commands import ResolveIncident
from tierline_intake.service_layer.incidents import (
    IntakeDeps,
    add_timeline,
    cancel_clocks,
    get_incident,
    resolve_incident,
)
from tierline_shared.events import (
    Envelope,
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


def record_received(
    session: AsyncSession, envelope: Envelope, *, at: datetime, kind: str, summary: str
) -> None:
    """Put what another service told us on the incident's timeline, with the event's data."""
    add_timeline(
        session,
        envelope.data.incident_id,
        at=at,
        kind=kind,
        summary=summary,
        source=envelope.source.rsplit("/", 1)[-1],
        event_id=envelope.id,
        data=envelope.data.model_dump(mode="json", exclude={"incident_id"}),
    )


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


async def on_assigned(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    event = envelope.data
    assert isinstance(event, IncidentAssigned)
    row = await get_incident(session, event.incident_id, lock=True)
    # assignee None: the incident waits in the queue, nobody holds it any more
    row.tier, row.queue, row.assignee = event.tier, event.queue, event.assignee
    row.updated_at = max(row.updated_at, event.assigned_at)
    record_received(
        session, envelope, at=event.assigned_at, kind="assigned", summary=_assignment_summary(event)
    )


def _holder(event: IncidentEscalated) -> str:
    if event.to_tier == "L4" and event.vendor:
        return f"vendor {event.vendor}"
    if event.assignee:
        return f"{event.assignee} in {event.queue}" if event.queue else event.assignee
    if event.queue:
        return f"queue {event.queue} (waiting for a free agent)"
    return "nobody yet"


async def on_escalated(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    """The incident changed tier, up (escalated) or down (handed back); the view follows either way."""
    event = envelope.data
    assert isinstance(event, IncidentEscalated)
    row = await get_incident(session, event.incident_id, lock=True)
    row.tier, row.queue, row.assignee = event.to_tier, event.queue, event.assignee
    row.vendor = event.vendor  # only L4 has one; a hand-back leaves the vendor's case on the timeline
    row.updated_at = max(row.updated_at, event.escalated_at)
    # The tier the incident left no longer runs its budget; nor does a vendor that handed it back.
    await cancel_clocks(session, event.incident_id, "tier", tier=event.from_tier)
    if event.from_tier == "L4" and event.to_tier != "L4":
        await cancel_clocks(session, event.incident_id, *VENDOR_CLOCKS)
    move = f"{event.from_tier} -> {event.to_tier} ({event.reason})"
    note = f": {event.note}" if event.note else ""
    if event.direction == "down":
        kind, summary = "de_escalated", f"De-escalated {move}, handed back to {_holder(event)}{note}"
    else:
        kind, summary = "escalated", f"Escalated {move} to {_holder(event)}{note}"
    record_received(session, envelope, at=event.escalated_at, kind=kind, summary=summary)


async def on_escalation_blocked(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    """An escalation was due but could not happen: the incident stays, the timeline says why."""
    event = envelope.data
    assert isinstance(event, IncidentEscalationBlocked)
    await get_incident(session, event.incident_id)
    record_received(
        session,
        envelope,
        at=event.at,
        kind="escalation_blocked",
        summary=f"Escalation ({event.reason}) blocked at {event.tier}: {event.detail}",
    )


async def on_renotified(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    event = envelope.data
    assert isinstance(event, IncidentRenotified)
    await get_incident(session, event.incident_id)
    who = event.assignee or (f"queue {event.queue}" if event.queue else "the tier")
    attempt = f"attempt {event.attempt} of {event.of}"
    record_received(
        session,
        envelope,
        at=event.at,
        kind="renotified",
        summary=f"Not acknowledged: paged {who} again at {event.tier} ({attempt})",
    )


async def on_case_opened(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    event = envelope.data
    assert isinstance(event, VendorCaseOpened)
    row = await get_incident(session, event.incident_id, lock=True)
    row.vendor, row.vendor_case_id = event.vendor, event.case_id
    row.vendor_reference = event.vendor_reference or row.vendor_reference
    ref = f" (reference {event.vendor_reference})" if event.vendor_reference else ""
    record_received(
        session,
        envelope,
        at=event.opened_at,
        kind="vendor_case_opened",
        summary=f"Case handed to vendor {event.vendor}{ref}",
    )


async def on_case_updated(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    event = envelope.data
    assert isinstance(event, VendorCaseUpdated)
    row = await get_incident(session, event.incident_id, lock=True)
    row.vendor_reference = event.vendor_reference or row.vendor_reference
    record_received(
        session,
        envelope,
        at=event.updated_at,
        kind="vendor_case_updated",
        summary=f"Vendor {event.vendor}: {event.status}" + (f" - {event.note}" if event.note else ""),
    )


async def on_case_acknowledged(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    event = envelope.data
    assert isinstance(event, VendorCaseAcknowledged)
    row = await get_incident(session, event.incident_id, lock=True)
    row.vendor_reference = event.vendor_reference or row.vendor_reference
    ref = f" as {event.vendor_reference}" if event.vendor_reference else ""
    record_received(
        session,
        envelope,
        at=event.acknowledged_at,
        kind="vendor_case_acknowledged",
        summary=f"Vendor {event.vendor} took the case on{ref}" + (f" - {event.note}" if event.note else ""),
    )


async def on_case_rejected(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    """Timeline only: the router hands the incident back to L3 and says so in its own event."""
    event = envelope.data
    assert isinstance(event, VendorCaseRejected)
    await get_incident(session, event.incident_id)
    record_received(
        session,
        envelope,
        at=event.rejected_at,
        kind="vendor_case_rejected",
        summary=f"Vendor {event.vendor} rejected the case" + (f": {event.reason}" if event.reason else ""),
    )


async def on_endpoint_disabled(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    event = envelope.data
    assert isinstance(event, VendorEndpointDisabled)
    await get_incident(session, event.incident_id)
    record_received(
        session,
        envelope,
        at=event.disabled_at,
        kind="vendor_endpoint_disabled",
        summary=f"Vendor {event.vendor}'s webhook answered 410 Gone; deliveries to it are disabled",
    )


async def on_case_resolved(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    """The vendor fixed it: record that, and resolve the incident if it is still open."""
    event = envelope.data
    assert isinstance(event, VendorCaseResolved)
    row = await get_incident(session, event.incident_id, lock=True)
    row.vendor_reference = event.vendor_reference or row.vendor_reference
    record_received(
        session,
        envelope,
        at=event.resolved_at,
        kind="vendor_case_resolved",
        summary=f"Vendor {event.vendor} resolved the case"
        + (f": {event.resolution}" if event.resolution else ""),
    )
    if row.status != Status.RESOLVED.value:
        await resolve_incident(
            session,
            deps,
            row.id,
            ResolveIncident(
                by=event.vendor, resolution_code="vendor_resolved", note=event.resolution, source="vendor"
            ),
        )


async def on_delivery_failed(session: AsyncSession, envelope: Envelope, deps: IntakeDeps) -> None:
    event = envelope.data
    assert isinstance(event, VendorDeliveryFailed)
    await get_incident(session, event.incident_id)
    await cancel_clocks(session, event.incident_id, *VENDOR_CLOCKS)  # the vendor never got the case
    record_received(
        session,
        envelope,
        at=event.failed_at,
        kind="vendor_delivery_failed",
        summary=f"Handoff to {event.vendor} failed after {event.attempts} attempts: {event.last_error}",
    )
