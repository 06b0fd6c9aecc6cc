"""Events intake publishes about an incident's life."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tierline_shared.events import topics
from tierline_shared.events.base import IncidentEvent, contract

Priority = Literal["P1", "P2", "P3", "P4"]
Level = Literal["high", "medium", "low"]
Channel = Literal["web", "email", "chat", "phone", "monitoring", "api"]
# service_request: a request L1 fulfils (password reset, access, account change); incident: something broke
IncidentType = Literal["incident", "service_request"]


@contract("tierline.incident.created.v1", topics.INCIDENTS)
class IncidentCreated(IncidentEvent):
    title: str
    description: str = ""
    service: str
    category: str
    product: str | None = None
    customer: str | None = None
    priority: Priority
    impact: Level | None = None
    urgency: Level | None = None
    channel: Channel
    reporter: str
    dedup_key: str | None = None
    created_at: datetime
    type: IncidentType = "incident"  # absent from payloads before types existed


@contract("tierline.incident.acknowledged.v1", topics.INCIDENTS)
class IncidentAcknowledged(IncidentEvent):
    acknowledged_at: datetime
    by: str | None = None


@contract("tierline.incident.resolved.v1", topics.INCIDENTS)
class IncidentResolved(IncidentEvent):
    resolved_at: datetime
    by: str | None = None
    resolution_code: str | None = None
    note: str | None = None
    source: Literal["agent", "vendor", "integration"] = Field(default="agent")


class FieldChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    old: Any
    new: Any


@contract("tierline.incident.updated.v1", topics.INCIDENTS)
class IncidentUpdated(IncidentEvent):
    """Fields changed by an edit; ``priority`` and ``type`` are those after it (changed or not)."""

    changes: dict[str, FieldChange]
    priority: Priority
    service: str
    category: str
    product: str | None = None
    updated_at: datetime
    by: str | None = None
    type: IncidentType = "incident"  # absent from payloads before types existed


@contract("tierline.incident.put_on_hold.v1", topics.INCIDENTS)
class IncidentPutOnHold(IncidentEvent):
    reason: Literal["awaiting_customer", "awaiting_vendor", "awaiting_change"]
    note: str | None = None
    at: datetime
    by: str | None = None


@contract("tierline.incident.resumed.v1", topics.INCIDENTS)
class IncidentResumed(IncidentEvent):
    status: Literal["open", "acknowledged"]
    at: datetime
    by: str | None = None


@contract("tierline.incident.reopened.v1", topics.INCIDENTS)
class IncidentReopened(IncidentEvent):
    reason: str | None = None
    priority: Priority
    reopened_at: datetime
    by: str | None = None


@contract("tierline.incident.closed.v1", topics.INCIDENTS)
class IncidentClosed(IncidentEvent):
    closed_at: datetime
    by: str | None = None
