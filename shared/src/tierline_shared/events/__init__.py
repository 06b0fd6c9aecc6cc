"""Event contracts, one pydantic model per versioned CloudEvents type."""

from tierline_shared.events import topics
from tierline_shared.events.access import ApiKeyCreated, ApiKeyRevoked
from tierline_shared.events.base import (
    Envelope,
    Event,
    IncidentEvent,
    UnknownEventType,
    parse_event,
    registered_types,
)
from tierline_shared.events.incidents import (
    FieldChange,
    IncidentAcknowledged,
    IncidentClosed,
    IncidentCreated,
    IncidentPutOnHold,
    IncidentReopened,
    IncidentResolved,
    IncidentResumed,
    IncidentUpdated,
)
from tierline_shared.events.notifications import NotificationFailed, NotificationSent
from tierline_shared.events.routing import (
    IncidentAssigned,
    IncidentEscalated,
    IncidentEscalationBlocked,
    IncidentRenotified,
    VendorContract,
)
from tierline_shared.events.sla import (
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaRecalculated,
    SlaWarning,
)
from tierline_shared.events.vendor import (
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorChanged,
    VendorDeliveryFailed,
    VendorEndpointDisabled,
)

__all__ = [
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "Envelope",
    "Event",
    "FieldChange",
    "IncidentAcknowledged",
    "IncidentAssigned",
    "IncidentClosed",
    "IncidentCreated",
    "IncidentEscalated",
    "IncidentEscalationBlocked",
    "IncidentEvent",
    "IncidentPutOnHold",
    "IncidentRenotified",
    "IncidentReopened",
    "IncidentResolved",
    "IncidentResumed",
    "IncidentUpdated",
    "NotificationFailed",
    "NotificationSent",
    "SlaBreached",
    "SlaClockPaused",
    "SlaClockResumed",
    "SlaClockStarted",
    "SlaMet",
    "SlaRecalculated",
    "SlaWarning",
    "UnknownEventType",
    "VendorCaseAcknowledged",
    "VendorCaseOpened",
    "VendorCaseRejected",
    "VendorCaseResolved",
    "VendorCaseUpdated",
    "VendorChanged",
    "VendorContract",
    "VendorDeliveryFailed",
    "VendorEndpointDisabled",
    "parse_event",
    "registered_types",
    "topics",
]
