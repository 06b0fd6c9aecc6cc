"""What the incident and problem lists may be narrowed by (every given field must match)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IncidentFilter:
    status: list[str] | None = None
    priority: list[str] | None = None
    tier: list[str] | None = None
    type: list[str] | None = None
    queue: list[str] | None = None
    assignee: str | None = None
    service: str | None = None
    category: str | None = None
    product: str | None = None
    customer: str | None = None
    channel: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    problem_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ProblemFilter:
    status: list[str] | None = None
    known_error: bool | None = None
    service: str | None = None  # problems with at least one linked incident of this service
    created_since: datetime | None = None  # inclusive
    created_until: datetime | None = None  # exclusive
