"""Events intake publishes about an incident's life."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from tierline_shared.events import topics
from tierline_shared.events.base import Event, contract

Priority = Literal["P1", "P2", "P3", "P4"]
Level = Literal["high", "medium", "low"]
Channel = Literal["web", "email", "chat", "phone", "monitoring", "api"]


@contract("tierline.incident.created.v1", topics.INCIDENTS)
class IncidentCreated(Event):
    title: str
    description: str = ""
    service: str
    category: str
    priority: Priority
    impact: Level | None = None
    urgency: Level | None = None
    channel: Channel
    reporter: str
    dedup_key: str | None = None
    created_at: datetime


@contract("tierline.incident.acknowledged.v1", topics.INCIDENTS)
class IncidentAcknowledged(Event):
    acknowledged_at: datetime
    by: str | None = None


@contract("tierline.incident.resolved.v1", topics.INCIDENTS)
class IncidentResolved(Event):
    resolved_at: datetime
    by: str | None = None
    resolution_code: str | None = None
    note: str | None = None
    source: Literal["agent", "vendor", "integration"] = Field(default="agent")
