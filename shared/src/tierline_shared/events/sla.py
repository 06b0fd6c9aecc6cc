"""Events the SLA monitor publishes about an incident's clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tierline_shared.events import topics
from tierline_shared.events.base import IncidentEvent, contract

ClockKind = Literal["response", "resolution", "tier"]


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


@contract("tierline.sla.recalculated.v1", topics.SLA)
class SlaRecalculated(IncidentEvent):
    """A clock's due time moved (priority changed): time already spent still counts."""

    clock: ClockKind
    tier: str | None = None
    old_due_at: datetime
    due_at: datetime
    reason: str
    at: datetime
