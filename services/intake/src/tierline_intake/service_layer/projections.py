"""The read model: what router, SLA monitor and vendor gateway did, applied to the incident view.

Every consumed event goes through :func:`project` inside the consumer's unit of work (the
inbox makes redelivery harmless): load the incident (locked when the event changes it; an
unknown incident is refused), let the aggregate follow, save it, and put the event's line
(:mod:`tierline_intake.domain.timeline`) on the timeline. What an event does besides is here:
the SLA clocks' view (:func:`clock_started`, :func:`clock_changed`), the clocks a change of
tier or vendor stops, and the resolution a vendor's fix brings.
"""

from __future__ import annotations

from collections.abc import Callable

from tierline_intake.domain import sla, timeline
from tierline_intake.domain.incident import Incident
from tierline_intake.service_layer.commands import ResolveIncident
from tierline_intake.service_layer.incidents import IntakeDeps, resolve_incident
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork, Origin
from tierline_shared.events import (
    IncidentEscalated,
    IncidentEvent,
    SlaClockStarted,
    VendorCaseResolved,
    VendorDeliveryFailed,
)

VENDOR_CLOCKS = ("vendor_response", "vendor_resolution")

Change = Callable[[Incident], None]


async def project(
    uow: IntakeUnitOfWork,
    event: IncidentEvent,
    origin: Origin,
    change: Change | None = None,
    *,
    clock_tier: str | None = None,
) -> Incident:
    """Load the event's incident, apply ``change`` (if any), save it and record the event's line.

    ``clock_tier``: the tier of a paused or resumed clock, as the view holds it.
    """
    incident = await uow.incidents.load(event.incident_id, lock=change is not None)
    if change is not None:
        change(incident)
        uow.incidents.save(incident)
    uow.received(event, origin, timeline.line(event, clock_tier=clock_tier))
    return incident


# -- what needs more than the incident and a line ---------------------------------------------


async def escalated(uow: IntakeUnitOfWork, event: IncidentEscalated, origin: Origin) -> None:
    """The incident changed tier, up or down; the tier it left no longer runs its budget,
    nor does a vendor that handed it back (a hand-back leaves the vendor's case on the timeline)."""
    await project(
        uow,
        event,
        origin,
        lambda incident: incident.escalated(
            tier=event.to_tier,
            queue=event.queue,
            assignee=event.assignee,
            vendor=event.vendor,  # only L4 has a vendor
            at=event.escalated_at,
        ),
    )
    await uow.sla.cancel(event.incident_id, "tier", tier=event.from_tier)
    if event.from_tier == "L4" and event.to_tier != "L4":
        await uow.sla.cancel(event.incident_id, *VENDOR_CLOCKS)


async def case_resolved(
    uow: IntakeUnitOfWork, deps: IntakeDeps, event: VendorCaseResolved, origin: Origin
) -> None:
    """The vendor fixed it: record that, and resolve the incident if it is still open."""
    incident = await project(
        uow, event, origin, lambda incident: incident.vendor_said(event.vendor_reference)
    )
    if not incident.resolved:
        fix = ResolveIncident(
            by=event.vendor, resolution_code="vendor_resolved", note=event.resolution, source="vendor"
        )
        await resolve_incident(uow, deps, incident.id, fix)


async def delivery_failed(uow: IntakeUnitOfWork, event: VendorDeliveryFailed, origin: Origin) -> None:
    """The vendor never got the case: its clocks stop."""
    await project(uow, event, origin)
    await uow.sla.cancel(event.incident_id, *VENDOR_CLOCKS)


async def clock_started(uow: IntakeUnitOfWork, event: SlaClockStarted, origin: Origin) -> None:
    """A (re)started clock replaces the view of the last one of its kind."""
    incident = await project(uow, event, origin)
    values = sla.started_view(event, incident_status=incident.status)
    await uow.sla.started(event.incident_id, event.clock, values)


async def clock_changed(uow: IntakeUnitOfWork, event: sla.ClockEvent, origin: Origin) -> None:
    """Breached, met, recalculated, warned, paused or resumed: the clock's view follows, if it is
    still the clock the event is about; the timeline says so either way."""
    view = await uow.sla.clock(event.incident_id, event.clock)
    if view is not None:
        uow.sla.change(view, sla.view_changes(event, state=view.state, tier=view.tier))
    await project(uow, event, origin, clock_tier=view.tier if view is not None else None)
