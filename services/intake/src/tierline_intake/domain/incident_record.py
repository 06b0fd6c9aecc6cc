"""What is stored about an incident: the aggregate's state, without its behaviour."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tierline_intake.domain.lifecycle import Status


@dataclass
class IncidentRecord:
    id: uuid.UUID
    title: str
    description: str
    service: str
    category: str
    product: str | None
    customer: str | None
    impact: str | None
    urgency: str | None
    priority: str
    priority_source: str
    channel: str
    reporter: str
    dedup_key: str | None
    status: Status
    created_at: datetime
    updated_at: datetime
    type: str = "incident"  # or service_request (see INCIDENT_TYPES)
    tier: str | None = None
    queue: str | None = None
    assignee: str | None = None
    vendor: str | None = None
    vendor_case_id: uuid.UUID | None = None
    vendor_reference: str | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    resolution_code: str | None = None
    resolution_note: str | None = None
    occurrences: int = 1
    last_seen_at: datetime | None = None
    hold_reason: str | None = None
    closed_at: datetime | None = None
    reopen_count: int = 0
    csat_score: int | None = None
    csat_comment: str | None = None
    knowledge: list[dict[str, Any]] = field(default_factory=list)
    knowledge_article_used: str | None = None
    problem_id: uuid.UUID | None = None
    integration_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)
