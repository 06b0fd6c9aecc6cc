"""Event contracts, one pydantic model per versioned CloudEvents type."""

from tierline_shared.events import topics
from tierline_shared.events.base import (
    Envelope,
    Event,
    UnknownEventType,
    parse_event,
    registered_types,
)
from tierline_shared.events.incidents import (
    IncidentAcknowledged,
    IncidentCreated,
    IncidentResolved,
)
from tierline_shared.events.routing import IncidentAssigned, IncidentEscalated
from tierline_shared.events.sla import SlaBreached, SlaClockStarted, SlaMet
from tierline_shared.events.vendor import (
    VendorCaseOpened,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
)

__all__ = [
    "Envelope",
    "Event",
    "IncidentAcknowledged",
    "IncidentAssigned",
    "IncidentCreated",
    "IncidentEscalated",
    "IncidentResolved",
    "SlaBreached",
    "SlaClockStarted",
    "SlaMet",
    "UnknownEventType",
    "VendorCaseOpened",
    "VendorCaseResolved",
    "VendorCaseUpdated",
    "VendorDeliveryFailed",
    "parse_event",
    "registered_types",
    "topics",
]
