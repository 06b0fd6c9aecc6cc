"""Events the SLA monitor publishes about an incident's clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tierline_shared.events import topics
from tierline_shared.events.base import Event, contract

ClockKind = Literal["response", "resolution", "tier"]


@contract("tierline.sla.clock_started.v1", topics.SLA)
class SlaClockStarted(Event):
    clock: ClockKind
    tier: str | None = None
    due_at: datetime
    started_at: datetime


@contract("tierline.sla.breached.v1", topics.SLA)
class SlaBreached(Event):
    clock: ClockKind
    tier: str | None = None
    due_at: datetime
    breached_at: datetime


@contract("tierline.sla.met.v1", topics.SLA)
class SlaMet(Event):
    clock: ClockKind
    tier: str | None = None
    due_at: datetime
    met_at: datetime
