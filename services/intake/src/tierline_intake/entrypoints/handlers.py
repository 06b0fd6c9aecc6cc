"""Which consumed event feeds the read model, and how: one handler per event type.

Each runs :func:`projections.project` (load the incident, let it follow, save it, put the
event's line on the timeline) or one of the projections that do more.
"""

from __future__ import annotations

from tierline_intake.adapters.mail_repository import MailRepository
from tierline_intake.domain.sla import ClockEvent
from tierline_intake.service_layer import projections
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.projections import Change
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork, Origin
from tierline_shared.events import (
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentEvent,
    IncidentRenotified,
    NotificationFailed,
    NotificationSent,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaRecalculated,
    SlaWarning,
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
    VendorEndpointDisabled,
)
from tierline_shared.messaging.handlers import Consumed, Handlers

handlers: Handlers[IntakeDeps] = Handlers()
bind = handlers.bind


def _uow(c: Consumed[IntakeDeps]) -> IntakeUnitOfWork:
    return c.deps.unit_of_work(c.session)


async def _project(c: Consumed[IntakeDeps], event: IncidentEvent, change: Change | None = None) -> None:
    await projections.project(_uow(c), event, Origin.of(c.envelope), change)


async def _clock(c: Consumed[IntakeDeps], event: ClockEvent) -> None:
    await projections.clock_changed(_uow(c), event, Origin.of(c.envelope))


# -- the router ------------------------------------------------------------------------------


@handlers.handles(IncidentAssigned)
async def on_assigned(event: IncidentAssigned, c: Consumed[IntakeDeps]) -> None:
    await _project(
        c,
        event,
        lambda incident: incident.assigned(
            tier=event.tier, queue=event.queue, assignee=event.assignee, at=event.assigned_at
        ),
    )


@handlers.handles(IncidentEscalated)
async def on_escalated(event: IncidentEscalated, c: Consumed[IntakeDeps]) -> None:
    await projections.escalated(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(IncidentEscalationBlocked)
async def on_escalation_blocked(event: IncidentEscalationBlocked, c: Consumed[IntakeDeps]) -> None:
    """An escalation was due but could not happen: the incident stays, the timeline says why."""
    await _project(c, event)


@handlers.handles(IncidentRenotified)
async def on_renotified(event: IncidentRenotified, c: Consumed[IntakeDeps]) -> None:
    await _project(c, event)


# -- the SLA monitor -------------------------------------------------------------------------


@handlers.handles(SlaClockStarted)
async def on_clock_started(event: SlaClockStarted, c: Consumed[IntakeDeps]) -> None:
    await projections.clock_started(_uow(c), event, Origin.of(c.envelope))


@handlers.handles(SlaBreached)
async def on_breached(event: SlaBreached, c: Consumed[IntakeDeps]) -> None:
    await _clock(c, event)


@handlers.handles(SlaMet)
async def on_met(event: SlaMet, c: Consumed[IntakeDeps]) -> None:
    await _clock(c, event)


@handlers.handles(SlaRecalculated)
async def on_recalculated(event: SlaRecalculated, c: Consumed[IntakeDeps]) -> None:
    await _clock(c, event)


@handlers.handles(SlaWarning)
async def on_warning(event: SlaWarning, c: Consumed[IntakeDeps]) -> None:
    await _clock(c, event)


@handlers.handles(SlaClockPaused)
async def on_paused(event: SlaClockPaused, c: Consumed[IntakeDeps]) -> None:
    await _clock(c, event)


@handlers.handles(SlaClockResumed)
async def on_resumed(event: SlaClockResumed, c: Consumed[IntakeDeps]) -> None:
    await _clock(c, event)


# -- the vendor gateway ----------------------------------------------------------------------


@handlers.handles(VendorCaseOpened)
async def on_case_opened(event: VendorCaseOpened, c: Consumed[IntakeDeps]) -> None:
    await _project(
        c,
        event,
        lambda incident: incident.handed_to_vendor(
            vendor=event.vendor, case_id=event.case_id, reference=event.vendor_reference
        ),
    )


@handlers.handles(VendorCaseUpdated)
async def on_case_updated(event: VendorCaseUpdated, c: Consumed[IntakeDeps]) -> None:
    await _project(c, event, lambda incident: incident.vendor_said(event.vendor_reference))


@handlers.handles(VendorCaseAcknowledged)
async def on_case_acknowledged(event: VendorCaseAcknowledged, c: Consumed[IntakeDeps]) -> None:
    await _project(c, event, lambda incident: incident.vendor_said(event.vendor_reference))


@handlers.handles(VendorCaseRejected)
async def on_case_rejected(event: VendorCaseRejected, c: Consumed[IntakeDeps]) -> None:
    """Timeline only: the router hands the incident back to L3 and says so in its own event."""
    await _project(c, event)


@handlers.handles(VendorEndpointDisabled)
async def on_endpoint_disabled(event: VendorEndpointDisabled, c: Consumed[IntakeDeps]) -> None:
    await _project(c, event)


@handlers.handles(VendorCaseResolved)
async def on_case_resolved(event: VendorCaseResolved, c: Consumed[IntakeDeps]) -> None:
    await projections.case_resolved(_uow(c), c.deps, event, Origin.of(c.envelope))


@handlers.handles(VendorDeliveryFailed)
async def on_delivery_failed(event: VendorDeliveryFailed, c: Consumed[IntakeDeps]) -> None:
    await projections.delivery_failed(_uow(c), event, Origin.of(c.envelope))


# -- the notifier ----------------------------------------------------------------------------


@handlers.handles(NotificationSent)
async def on_notification_sent(event: NotificationSent, c: Consumed[IntakeDeps]) -> None:
    """The timeline: who was told, by which channel, and why; and which incident the notification
    was about and to whom, so that a mail answering it (In-Reply-To its Message-ID) becomes a note
    there, and so that the address it was mailed to may add to the incident by mail."""
    await MailRepository(c.session).remember_thread(event.notification_id, event.incident_id, event.recipient)
    await _project(c, event)


@handlers.handles(NotificationFailed)
async def on_notification_failed(event: NotificationFailed, c: Consumed[IntakeDeps]) -> None:
    """Timeline only: who could not be told, and the error."""
    await _project(c, event)
