"""Inputs of intake's use cases (validated at the edge, plain data here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CreateIncident:
    title: str
    description: str
    service: str
    category: str
    channel: str
    reporter: str
    product: str | None = None
    customer: str | None = None
    impact: str | None = None
    urgency: str | None = None
    priority: str | None = None
    dedup_key: str | None = None
    type: str = "incident"
    integration_id: uuid.UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolveIncident:
    by: str | None = None
    resolution_code: str | None = None
    note: str | None = None
    knowledge_article: str | None = None
    source: str = "agent"


@dataclass(frozen=True)
class UpdateIncident:
    """Only the fields present were sent (PATCH semantics)."""

    changes: dict[str, Any]
    by: str | None = None
