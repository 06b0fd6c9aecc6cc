"""Events the router publishes: who holds an incident, why it moved tier, and when it could not;
on-call schedules changing and shifts starting and ending (keyed by the schedule's name)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tierline_shared.events import topics
from tierline_shared.events.base import Event, IncidentEvent, contract

Tier = Literal["L1", "L2", "L3", "L4"]
EscalationReason = Literal[
    "sla_breach", "manual", "no_ack", "priority_change", "vendor_rejected", "vendor_unreachable"
]
AssignmentReason = Literal[
    "routed", "reassigned", "rerouted", "dequeued", "reopened", "priority_change", "shift_change"
]
ScheduleChange = Literal["created", "updated", "deleted", "overrides", "imported"]


class VendorContract(BaseModel):
    """The vendor's contract targets, which the SLA monitor runs once the vendor holds the case."""

    model_config = ConfigDict(frozen=True)

    response_seconds: float | None = None
    resolution_seconds: float | None = None


@contract("tierline.incident.assigned.v1", topics.ROUTING)
class IncidentAssigned(IncidentEvent):
    """A queue (and, when someone is free, an agent) of the current tier holds the incident.

    ``tier_entered_at`` is when the tier took the incident: re-assignments inside a tier keep it,
    so the tier budget keeps counting from there (``assignee`` is None while the incident waits).
    """

    tier: Tier
    queue: str
    assignee: str | None
    reason: AssignmentReason = "routed"
    tier_budget_seconds: float | None = None
    tier_entered_at: datetime | None = None
    assigned_at: datetime


@contract("tierline.incident.escalated.v1", topics.ROUTING)
class IncidentEscalated(IncidentEvent):
    """The incident moved tier: ``direction`` up (escalation) or down (handed back)."""

    from_tier: Tier
    to_tier: Tier
    direction: Literal["up", "down"] = "up"
    reason: EscalationReason
    note: str | None = None
    queue: str | None = None
    assignee: str | None = None
    vendor: str | None = None
    vendor_contract: VendorContract | None = None
    tier_budget_seconds: float | None = None
    escalated_at: datetime


@contract("tierline.incident.escalation_blocked.v1", topics.ROUTING)
class IncidentEscalationBlocked(IncidentEvent):
    """An escalation was due but could not happen; the incident stays where it is."""

    tier: Tier
    reason: EscalationReason
    cause: Literal["top_of_ladder", "no_vendor"]
    detail: str
    at: datetime


@contract("tierline.incident.renotified.v1", topics.ROUTING)
class IncidentRenotified(IncidentEvent):
    """Nobody acknowledged within the policy's timeout: the router asks for a renotification (the
    notifier tells the assignee again, by the next contact of their rule, and says so in its own events)."""

    tier: Tier
    queue: str | None
    assignee: str | None
    attempt: int
    of: int
    at: datetime


class ScheduleEvent(Event):
    """An event about one on-call schedule: keyed by its name, so its events stay ordered."""

    schedule: str

    def subject(self) -> str:
        return self.schedule


@contract("tierline.schedule.changed.v1", topics.ROUTING)
class ScheduleChanged(ScheduleEvent):
    """An on-call schedule was made, replaced, deleted, given or rid of an override, or had a
    calendar layer imported: who is on call may have changed (ask the router's API)."""

    change: ScheduleChange
    at: datetime


class ShiftEvent(ScheduleEvent):
    """A person's on-call shift in a schedule, for the queues naming it."""

    person: str
    queues: list[str] = Field(default_factory=list)
    at: datetime


@contract("tierline.oncall.shift_started.v1", topics.ROUTING)
class OncallShiftStarted(ShiftEvent):
    """``person`` went on call in ``schedule``, for the queues naming it."""


@contract("tierline.oncall.shift_ended.v1", topics.ROUTING)
class OncallShiftEnded(ShiftEvent):
    """``person`` went off call in ``schedule``, for the queues naming it."""
