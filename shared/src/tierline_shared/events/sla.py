"""Events the SLA monitor publishes about an incident's clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from tierline_shared.events import topics
from tierline_shared.events.base import IncidentEvent, contract

ClockKind = Literal["response", "resolution", "tier", "vendor_response", "vendor_resolution"]


@contract("tierline.sla.clock_started.v1", topics.SLA)
class SlaClockStarted(IncidentEvent):
    clock: ClockKind
    tier: str | None = None
    due_at: datetime
    started_at: datetime


@contract("tierline.sla.breached.v1", topics.SLA)
class SlaBreached(IncidentEvent):
    clock: ClockKind
    tier: str | None = None
    due_at: datetime
    breached_at: datetime


@contract("tierline.sla.met.v1", topics.SLA)
class SlaMet(IncidentEvent):
    clock: ClockKind
    tier: str | None = None
    due_at: datetime
    met_at: datetime
    elapsed_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Business time the clock counted, on its calendar and without its pauses "
        "(absent from monitors older than this field).",
    )


@contract("tierline.sla.recalculated.v1", topics.SLA)
class SlaRecalculated(IncidentEvent):
    """A clock's due time moved (priority changed): time already spent still counts."""

    clock: ClockKind
    tier: str | None = None
    old_due_at: datetime
    due_at: datetime
    reason: str
    at: datetime


@contract("tierline.sla.warning.v1", topics.SLA)
class SlaWarning(IncidentEvent):
    """A clock has used ``threshold`` of its target (e.g. 0.75): act before it breaches.

    ``last`` marks the policy's last warning before the breach (leads are told from there).
    """

    clock: ClockKind
    tier: str | None = None
    threshold: float
    last: bool = False
    due_at: datetime
    elapsed_seconds: float
    remaining_seconds: float
    at: datetime


@contract("tierline.sla.clock_paused.v1", topics.SLA)
class SlaClockPaused(IncidentEvent):
    """The clock stopped counting (the incident is on hold for a reason the policy pauses on)."""

    clock: ClockKind
    reason: str
    elapsed_seconds: float
    remaining_seconds: float
    at: datetime


@contract("tierline.sla.clock_resumed.v1", topics.SLA)
class SlaClockResumed(IncidentEvent):
    """The clock counts again from where it paused; ``due_at`` is its new due time."""

    clock: ClockKind
    due_at: datetime
    at: datetime
