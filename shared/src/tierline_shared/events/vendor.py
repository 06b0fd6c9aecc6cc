"""Events the vendor gateway publishes about L4 cases and its vendors."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from tierline_shared.events import topics
from tierline_shared.events.base import Event, IncidentEvent, contract
from tierline_shared.events.routing import VendorContract


@contract("tierline.vendor.case_opened.v1", topics.VENDOR)
class VendorCaseOpened(IncidentEvent):
    vendor: str
    case_id: uuid.UUID
    vendor_reference: str | None = None
    opened_at: datetime


@contract("tierline.vendor.case_acknowledged.v1", topics.VENDOR)
class VendorCaseAcknowledged(IncidentEvent):
    """The vendor took the case on (its contract's response clock stops)."""

    vendor: str
    case_id: uuid.UUID
    vendor_reference: str | None = None
    note: str | None = None
    acknowledged_at: datetime


@contract("tierline.vendor.endpoint_disabled.v1", topics.VENDOR)
class VendorEndpointDisabled(IncidentEvent):
    """The vendor's webhook answered 410 Gone: no more deliveries until it is re-enabled."""

    vendor: str
    case_id: uuid.UUID
    url: str
    disabled_at: datetime


@contract("tierline.vendor.case_updated.v1", topics.VENDOR)
class VendorCaseUpdated(IncidentEvent):
    vendor: str
    case_id: uuid.UUID
    status: str
    vendor_reference: str | None = None
    note: str | None = None
    updated_at: datetime


@contract("tierline.vendor.case_resolved.v1", topics.VENDOR)
class VendorCaseResolved(IncidentEvent):
    vendor: str
    case_id: uuid.UUID
    vendor_reference: str | None = None
    resolution: str | None = None
    resolved_at: datetime


@contract("tierline.vendor.case_rejected.v1", topics.VENDOR)
class VendorCaseRejected(IncidentEvent):
    """The vendor turned the case down; the router hands the incident back to L3."""

    vendor: str
    case_id: uuid.UUID
    vendor_reference: str | None = None
    reason: str | None = None
    rejected_at: datetime


@contract("tierline.vendor.delivery_failed.v1", topics.VENDOR)
class VendorDeliveryFailed(IncidentEvent):
    vendor: str
    case_id: uuid.UUID
    attempts: int
    last_error: str
    failed_at: datetime


@contract("tierline.vendor.changed.v1", topics.VENDOR)
class VendorChanged(Event):
    """A vendor's registry entry as it now stands, sent on every change (and at the gateway's start).

    The router chooses L4 vendors from these when its own rules name none, and passes over a
    vendor that does not take cases. Secrets and endpoints never leave the gateway.
    """

    vendor: str
    products: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    contract: VendorContract | None = None
    is_enabled: bool
    revision: int = Field(description="Grows with every announcement of this vendor: the highest is current")
    changed_at: datetime

    def subject(self) -> str:
        return self.vendor
