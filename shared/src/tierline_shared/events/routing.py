"""Events the router publishes: who holds an incident, and why it moved tier."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tierline_shared.events import topics
from tierline_shared.events.base import IncidentEvent, contract

Tier = Literal["L1", "L2", "L3", "L4"]
EscalationReason = Literal["sla_breach", "manual", "no_ack", "priority_change", "vendor_rejected"]


@contract("tierline.incident.assigned.v1", topics.ROUTING)
class IncidentAssigned(IncidentEvent):
    tier: Tier
    queue: str
    assignee: str | None
    tier_budget_seconds: float | None = None
    assigned_at: datetime


@contract("tierline.incident.escalated.v1", topics.ROUTING)
class IncidentEscalated(IncidentEvent):
    from_tier: Tier
    to_tier: Tier
    reason: EscalationReason
    note: str | None = None
    queue: str | None = None
    assignee: str | None = None
    vendor: str | None = None
    tier_budget_seconds: float | None = None
    escalated_at: datetime
