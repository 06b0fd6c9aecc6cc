"""Inputs of intake's use cases (validated at the edge, plain data here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CreateIncident:
    title: str
    description: str
    service: str
    category: str
    channel: str
    reporter: str
    impact: str | None = None
    urgency: str | None = None
    priority: str | None = None
    dedup_key: str | None = None


@dataclass(frozen=True)
class ResolveIncident:
    by: str | None = None
    resolution_code: str | None = None
    note: str | None = None
    source: str = "agent"
