"""What the notifier remembers of an incident: enough to address and word its messages.

Intake, the router and the SLA monitor each announce part of an incident; the view folds
their events in whatever order their topics deliver them (an assignment may arrive before the
creation it follows), so every field has a default until its event comes.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tierline_shared.events import (
    Event,
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentClosed,
    IncidentCreated,
    IncidentEscalated,
    IncidentReopened,
    IncidentResolved,
    IncidentResumed,
    IncidentUpdated,
)


def reference(incident_id: uuid.UUID) -> str:
    """The short reference people quote ("TL-1A2B3C4D"): the id's first 8 hex digits."""
    return "TL-" + incident_id.hex[:8].upper()


@dataclass(frozen=True)
class IncidentView:
    incident_id: uuid.UUID
    title: str = ""
    priority: str = "P3"
    service: str = ""
    category: str = ""
    reporter: str = ""
    tier: str | None = None
    queue: str | None = None
    assignee: str | None = None
    status: str = "open"  # open | acknowledged | resolved | closed
    p1_announced: bool = False
    # the queue that last held the incident at each tier: vendor trouble goes to the L3 queue
    queues: dict[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return reference(self.incident_id)

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["incident_id"] = str(self.incident_id)
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> IncidentView:
        return cls(**{**data, "incident_id": uuid.UUID(data["incident_id"])})

    def after(self, event: Event) -> IncidentView:
        """The view once ``event`` is folded in."""
        match event:
            case IncidentCreated():
                return replace(
                    self,
                    title=event.title,
                    priority=event.priority,
                    service=event.service,
                    category=event.category,
                    reporter=event.reporter,
                )
            case IncidentAssigned():
                return replace(
                    self,
                    tier=event.tier,
                    queue=event.queue,
                    assignee=event.assignee,
                    queues={**self.queues, event.tier: event.queue},
                )
            case IncidentEscalated():
                queues = {**self.queues, event.to_tier: event.queue} if event.queue else self.queues
                return replace(
                    self,
                    tier=event.to_tier,
                    queue=event.queue,
                    assignee=event.assignee,
                    queues=queues,
                    status="open" if self.status == "acknowledged" else self.status,
                )
            case IncidentUpdated():
                title = event.changes["title"].new if "title" in event.changes else self.title
                return replace(
                    self, priority=event.priority, service=event.service, category=event.category, title=title
                )
            case IncidentAcknowledged():
                return replace(self, status="acknowledged")
            case IncidentResumed():
                return replace(self, status=event.status)
            case IncidentResolved():
                return replace(self, status="resolved")
            case IncidentReopened():
                return replace(self, status="open", priority=event.priority)
            case IncidentClosed():
                return replace(self, status="closed")
        return self
