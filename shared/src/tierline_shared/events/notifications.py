"""Events the notifier publishes: who was told what about an incident, and what could not be sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from tierline_shared.events import topics
from tierline_shared.events.base import IncidentEvent, contract

# Why a recipient was told: the incident's assignee, the one before an escalation, the queue's lead,
# the queue's team channel, or the person who reported it.
Role = Literal["assignee", "previous_assignee", "lead", "team", "reporter"]
ContactType = Literal["email", "slack", "mattermost", "teams", "webhook", "apprise"]


@contract("tierline.notification.sent.v1", topics.NOTIFICATIONS)
class NotificationSent(IncidentEvent):
    """A message about the incident reached its channel (the mail server or chat service took it)."""

    notification_id: uuid.UUID
    kind: str  # what it said: assigned, renotified, escalated, sla_warning, breached, created, resolved …
    recipient: str  # a person's name, the queue for a team channel, or the reporter's address
    role: Role
    channel: ContactType
    attempts: int
    sent_at: datetime


@contract("tierline.notification.failed.v1", topics.NOTIFICATIONS)
class NotificationFailed(IncidentEvent):
    """A message could not be sent after every retry (dead), or can never be (refused, no address)."""

    notification_id: uuid.UUID
    kind: str
    recipient: str
    role: Role
    channel: ContactType
    attempts: int
    error: str
    failed_at: datetime
