"""An L4 case: one handoff of an incident to a vendor, and what the vendor has said about it since."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from tierline_shared.errors import Conflict
from tierline_shared.events import (
    VendorCaseAcknowledged,
    VendorCaseOpened,
    VendorCaseRejected,
    VendorCaseResolved,
    VendorCaseUpdated,
    VendorDeliveryFailed,
)
from tierline_vendor_gateway.domain.text import clean_text

CaseStatus = Literal["pending", "open", "acknowledged", "failed", "resolved", "rejected"]
CLOSED: frozenset[str] = frozenset({"resolved", "rejected"})
# A delivery that succeeds opens the case only from these; otherwise it is a replay the vendor has seen.
UNOPENED: frozenset[str] = frozenset({"pending", "failed"})
CallbackEvent = VendorCaseAcknowledged | VendorCaseUpdated | VendorCaseResolved | VendorCaseRejected


@dataclass(frozen=True)
class Callback:
    """What a vendor's verified callback says about one of its cases."""

    case_id: uuid.UUID
    action: str
    reference: str | None = None
    status: str | None = None
    note: str | None = None
    resolution: str | None = None

    def cleaned(self) -> Callback:
        """The vendor's text made safe to store and show (control characters, length)."""
        return replace(
            self,
            reference=clean_text(self.reference, limit=200),
            status=clean_text(self.status, limit=80),
            note=clean_text(self.note, multiline=True),
            resolution=clean_text(self.resolution, multiline=True),
        )


@dataclass
class Case:
    id: uuid.UUID
    incident_id: uuid.UUID
    vendor: str
    status: str
    vendor_reference: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def hand_off(cls, case_id: uuid.UUID, incident_id: uuid.UUID, vendor: str, now: datetime) -> Case:
        """A new case, pending until the vendor's endpoint takes its delivery."""
        return cls(case_id, incident_id, vendor, "pending", None, now, now)

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED

    def fail(self, attempts: int, error: str, now: datetime) -> VendorDeliveryFailed:
        """The handoff did not reach the vendor: the router returns the incident to L3 on the event."""
        self.status, self.updated_at = "failed", now
        return VendorDeliveryFailed(
            incident_id=self.incident_id,
            vendor=self.vendor,
            case_id=self.id,
            attempts=attempts,
            last_error=error,
            failed_at=now,
        )

    def open(self, reference: str | None, now: datetime) -> list[VendorCaseOpened]:
        """The vendor's endpoint took the delivery; a replay of a case it has already changes nothing."""
        self.vendor_reference = reference or self.vendor_reference
        if self.status not in UNOPENED:
            return []
        self.status, self.updated_at = "open", now
        return [
            VendorCaseOpened(
                incident_id=self.incident_id,
                vendor=self.vendor,
                case_id=self.id,
                vendor_reference=self.vendor_reference,
                opened_at=now,
            )
        ]

    def retry_handoff(self, now: datetime) -> None:
        """Its delivery is replayed: a failed case waits for it again."""
        if self.status == "failed":
            self.status, self.updated_at = "pending", now

    def _take_callback(self, reference: str | None, now: datetime) -> None:
        if self.is_closed:
            raise Conflict(f"The case is already {self.status}.", case_status=self.status)
        self.vendor_reference = reference or self.vendor_reference
        self.updated_at = now

    def acknowledge(self, reference: str | None, note: str | None, now: datetime) -> VendorCaseAcknowledged:
        self._take_callback(reference, now)
        self.status = "acknowledged"
        return VendorCaseAcknowledged(
            incident_id=self.incident_id,
            vendor=self.vendor,
            case_id=self.id,
            vendor_reference=self.vendor_reference,
            note=note,
            acknowledged_at=now,
        )

    def update(
        self, status: str, reference: str | None, note: str | None, now: datetime
    ) -> VendorCaseUpdated:
        """The vendor's progress note; the case's own status stays."""
        self._take_callback(reference, now)
        return VendorCaseUpdated(
            incident_id=self.incident_id,
            vendor=self.vendor,
            case_id=self.id,
            status=status,
            vendor_reference=self.vendor_reference,
            note=note,
            updated_at=now,
        )

    def resolve(self, reference: str | None, resolution: str | None, now: datetime) -> VendorCaseResolved:
        self._take_callback(reference, now)
        self.status = "resolved"
        return VendorCaseResolved(
            incident_id=self.incident_id,
            vendor=self.vendor,
            case_id=self.id,
            vendor_reference=self.vendor_reference,
            resolution=resolution,
            resolved_at=now,
        )

    def reject(self, reference: str | None, reason: str | None, now: datetime) -> VendorCaseRejected:
        self._take_callback(reference, now)
        self.status = "rejected"
        return VendorCaseRejected(
            incident_id=self.incident_id,
            vendor=self.vendor,
            case_id=self.id,
            vendor_reference=self.vendor_reference,
            reason=reason,
            rejected_at=now,
        )

    def apply(self, callback: Callback, now: datetime) -> CallbackEvent:
        """Apply a (cleaned) callback; Conflict once the case is resolved or rejected."""
        if callback.action == "resolved":
            return self.resolve(callback.reference, callback.resolution or callback.note, now)
        if callback.action == "rejected":
            return self.reject(callback.reference, callback.note or callback.status, now)
        if callback.action == "acknowledged":
            return self.acknowledge(callback.reference, callback.note, now)
        return self.update(callback.status or callback.action, callback.reference, callback.note, now)
