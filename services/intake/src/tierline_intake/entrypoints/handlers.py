"""Which consumed event feeds which read-model projection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.service_layer import projections, sla_projections
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared import events
from tierline_shared.events import Envelope, Event
from tierline_shared.messaging.consumer import Handler

Projection = Callable[[AsyncSession, Envelope, IntakeDeps], Awaitable[None]]

PROJECTIONS: Mapping[type[Event], Projection] = {
    events.IncidentAssigned: projections.on_assigned,
    events.IncidentEscalated: projections.on_escalated,
    events.IncidentEscalationBlocked: projections.on_escalation_blocked,
    events.IncidentRenotified: projections.on_renotified,
    events.SlaClockStarted: sla_projections.on_clock_started,
    events.SlaBreached: sla_projections.on_breached,
    events.SlaMet: sla_projections.on_met,
    events.SlaRecalculated: sla_projections.on_recalculated,
    events.SlaWarning: sla_projections.on_warning,
    events.SlaClockPaused: sla_projections.on_paused,
    events.SlaClockResumed: sla_projections.on_resumed,
    events.VendorCaseOpened: projections.on_case_opened,
    events.VendorCaseUpdated: projections.on_case_updated,
    events.VendorCaseAcknowledged: projections.on_case_acknowledged,
    events.VendorCaseRejected: projections.on_case_rejected,
    events.VendorEndpointDisabled: projections.on_endpoint_disabled,
    events.VendorCaseResolved: projections.on_case_resolved,
    events.VendorDeliveryFailed: projections.on_delivery_failed,
}


def bind(deps: IntakeDeps) -> dict[type[Event], Handler]:
    def bound(fn: Projection) -> Handler:
        async def handle(session: AsyncSession, envelope: Envelope) -> None:
            await fn(session, envelope, deps)

        return handle

    return {cls: bound(fn) for cls, fn in PROJECTIONS.items()}
