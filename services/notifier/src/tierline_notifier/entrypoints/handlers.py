"""Which consumed events the notifier acts on: every event about an incident that someone may hear of."""

from __future__ import annotations

from tierline_notifier.service_layer import notify
from tierline_notifier.service_layer.unit_of_work import NotifierDeps
from tierline_shared.events import (
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentClosed,
    IncidentCreated,
    IncidentEscalated,
    IncidentEvent,
    IncidentRenotified,
    IncidentReopened,
    IncidentResolved,
    IncidentResumed,
    IncidentUpdated,
    SlaBreached,
    SlaWarning,
    VendorCaseRejected,
    VendorDeliveryFailed,
)
from tierline_shared.messaging.handlers import Consumed, Handlers

# one incident's events, arriving on four topics, apply one at a time
handlers: Handlers[NotifierDeps] = Handlers(lock=lambda event: f"incident:{event.incident_id}")
bind = handlers.bind


@handlers.handles(
    IncidentCreated,
    IncidentAcknowledged,
    IncidentResolved,
    IncidentUpdated,
    IncidentResumed,
    IncidentReopened,
    IncidentClosed,
    IncidentAssigned,
    IncidentEscalated,
    IncidentRenotified,
    SlaWarning,
    SlaBreached,
    VendorDeliveryFailed,
    VendorCaseRejected,
)
async def on_event(
    event: IncidentCreated
    | IncidentAcknowledged
    | IncidentResolved
    | IncidentUpdated
    | IncidentResumed
    | IncidentReopened
    | IncidentClosed
    | IncidentAssigned
    | IncidentEscalated
    | IncidentRenotified
    | SlaWarning
    | SlaBreached
    | VendorDeliveryFailed
    | VendorCaseRejected,
    c: Consumed[NotifierDeps],
) -> None:
    incident_event: IncidentEvent = event
    await notify.on_event(c.deps.unit_of_work(c.session), c.deps, incident_event, c.envelope)
