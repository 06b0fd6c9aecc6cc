"""What the gateway remembers of an incident to brief a vendor: its fields, tier history and timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tierline_shared.events import IncidentAssigned, IncidentCreated, IncidentEscalated, IncidentUpdated

BRIEF_FIELDS = frozenset(
    {
        "title",
        "description",
        "service",
        "category",
        "product",
        "customer",
        "priority",
        "impact",
        "urgency",
        "channel",
        "reporter",
        "created_at",
    }
)
TIMELINE_KEPT = 10
TIER_HISTORY_KEPT = 20


@dataclass
class IncidentBrief:
    """An incident as intake and the router announced it; empty until the first event arrives."""

    incident_id: uuid.UUID
    data: dict[str, Any] = field(default_factory=dict)

    def _note(self, at: str, kind: str, summary: str) -> None:
        """Keep the latest timeline entries a vendor should read first."""
        timeline = [*self.data.get("timeline", []), {"at": at, "kind": kind, "summary": summary}]
        self.data = {**self.data, "timeline": timeline[-TIMELINE_KEPT:]}

    def remember_created(self, event: IncidentCreated) -> None:
        self.data = {**self.data, **event.model_dump(mode="json", include=set(BRIEF_FIELDS))}
        self._note(event.created_at.isoformat(), "created", f"Opened via {event.channel} by {event.reporter}")

    def remember_move(self, event: IncidentAssigned | IncidentEscalated) -> None:
        """Tier history for the brief: who held the incident, and why it moved."""
        step: dict[str, str | None]
        if isinstance(event, IncidentEscalated):
            at = event.escalated_at.isoformat()
            step = {
                "tier": event.to_tier,
                "queue": event.queue,
                "assignee": event.assignee,
                "at": at,
                "reason": event.reason,
            }
            summary = f"{event.from_tier} -> {event.to_tier} ({event.reason})" + (
                f": {event.note}" if event.note else ""
            )
            kind = "escalated" if event.direction == "up" else "de_escalated"
            self._note(at, kind, summary)
        else:
            at = event.assigned_at.isoformat()
            step = {
                "tier": event.tier,
                "queue": event.queue,
                "assignee": event.assignee,
                "at": at,
                "reason": event.reason,
            }
            self._note(at, "assigned", f"{event.tier} {event.queue}: {event.assignee or 'waiting'}")
        history = [*self.data.get("tier_history", []), step][-TIER_HISTORY_KEPT:]
        self.data = {**self.data, "tier_history": history}

    def remember_update(self, event: IncidentUpdated) -> None:
        changed = {k: c.new for k, c in event.changes.items() if k in BRIEF_FIELDS}
        self.data = {**self.data, **changed}
        self._note(event.updated_at.isoformat(), "updated", "Changed " + ", ".join(sorted(event.changes)))

    def for_vendor(self) -> dict[str, Any]:
        """The incident as the handoff shows it."""
        return {
            "id": str(self.incident_id),
            **{k: v for k, v in self.data.items() if k in BRIEF_FIELDS},
            "tier_history": self.data.get("tier_history", []),
            "timeline": self.data.get("timeline", []),
        }
