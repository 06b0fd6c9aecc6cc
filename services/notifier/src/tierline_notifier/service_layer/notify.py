"""An event in, the messages it owes recorded: who hears of it is the domain's decision.

The messages are rows of the notification log, written in the consumer's transaction with the
event's inbox row, one per (event, recipient, contact): a redelivered event owes nothing new.
The sender worker sends them when they fall due.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tierline_notifier import metrics
from tierline_notifier.domain.audience import ASKS_TO_ACT, Owed, audience, owed, people_needed
from tierline_notifier.domain.incident import IncidentView
from tierline_notifier.service_layer.unit_of_work import NotifierDeps, NotifierUnitOfWork
from tierline_shared.events import IncidentAcknowledged, IncidentClosed, IncidentEvent, IncidentResolved
from tierline_shared.events.base import Envelope
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
# once an incident is acknowledged (or done), messages still asking someone to take it are pointless
_SETTLES = (IncidentAcknowledged, IncidentResolved, IncidentClosed)
UNSEEN_GRACE = timedelta(seconds=3)


def incident_facts(view: IncidentView) -> dict[str, Any]:
    """The incident as a message shows it (kept with the message, as the event left it)."""
    return {
        "id": str(view.incident_id),
        "reference": view.reference,
        "title": view.title,
        "priority": view.priority,
        "service": view.service,
        "category": view.category,
        "tier": view.tier,
        "queue": view.queue,
        "assignee": view.assignee,
        "reporter": view.reporter,
        "status": view.status,
    }


def _row(message: Owed, envelope: Envelope, view: IncidentView, now: datetime) -> dict[str, Any]:
    contact = message.contact
    # Before the incident's creation has been consumed (it comes on another topic) its message waits a
    # moment: it is worded when sent, from the incident as the events then tell it.
    delay = max(message.delay, UNSEEN_GRACE) if not view.title else message.delay
    return {
        "id": uuid.uuid4(),
        "event_id": envelope.id,
        "incident_id": view.incident_id,
        "kind": message.kind,
        "role": message.role,
        "recipient": message.recipient,
        "contact": contact.name if contact else "",
        "channel": contact.type if contact else None,
        "target": contact.target if contact else None,
        "status": "skipped" if contact is None else "pending",
        "attempts": 0,
        "next_attempt_at": now + delay,
        "last_error": message.skipped,
        "facts": {"incident": incident_facts(view), "event": dict(message.facts)},
        "created_at": now,
    }


async def on_event(
    uow: NotifierUnitOfWork, deps: NotifierDeps, event: IncidentEvent, envelope: Envelope
) -> None:
    """Fold the event into the incident's view and record the messages it owes."""
    now = deps.clock.now()
    before = await uow.views.get(event.incident_id)
    after = before.after(event)
    told = audience(event, before, after)
    if any(a.kind == "p1_created" for a in told):
        after = replace(after, p1_announced=True)
    if isinstance(event, _SETTLES):
        cancelled = await uow.notifications.cancel_pending(event.incident_id, ASKS_TO_ACT, now)
        if cancelled:
            _log.info("notifications_cancelled", incident_id=str(event.incident_id), count=cancelled)
    if after != before:
        await uow.views.save(after, now)
    if not told:
        return
    teams = await uow.directory.teams({a.name for a in told if a.whom in ("team", "lead")})
    people = await uow.directory.people(people_needed(told, teams))
    messages = owed(told, after.priority, people, teams)
    await uow.notifications.add_all([_row(m, envelope, after, now) for m in messages])
    for message in messages:
        if message.skipped:
            metrics.NOTIFICATIONS.labels("none", "skipped").inc()
            _log.info(
                "notification_skipped",
                incident_id=str(event.incident_id),
                kind=message.kind,
                recipient=message.recipient,
                reason=message.skipped,
            )
