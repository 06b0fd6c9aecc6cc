"""What the notifier tells intake, on the incident's timeline, on the real PostgreSQL and Kafka.

The handlers are called the way the consumer calls them (one unit of work per event); the last
test sends the notifier's events through Kafka to a running intake to prove they are subscribed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tierline_intake.adapters.orm import IncidentRow, TimelineEntry
from tierline_intake.entrypoints import handlers
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.errors import NotFound
from tierline_shared.events import Envelope, Event, NotificationFailed, NotificationSent
from tierline_shared.testing import eventually, publish_events

from .conftest import vpn_incident

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOTIFIER = "/tierline/notifier"


def sent(incident_id: uuid.UUID, at: datetime, **fields: Any) -> NotificationSent:
    values: dict[str, Any] = {
        "notification_id": uuid.uuid4(),
        "kind": "assigned",
        "recipient": "alice",
        "role": "assignee",
        "channel": "email",
        "attempts": 1,
        **fields,
    }
    return NotificationSent(incident_id=incident_id, sent_at=at, **values)


def failed(incident_id: uuid.UUID, at: datetime) -> NotificationFailed:
    return NotificationFailed(
        incident_id=incident_id,
        notification_id=uuid.uuid4(),
        kind="breached",
        recipient="service-desk",
        role="team",
        channel="slack",
        attempts=5,
        error="HTTP 500 from the webhook",
        failed_at=at,
    )


async def _apply(sessions, deps: IntakeDeps, event: Event) -> Envelope:
    envelope = Envelope(data=event, source=NOTIFIER)
    async with sessions() as session, session.begin():
        await handlers.bind(deps)[type(event)](session, envelope)
    return envelope


async def _lines(sessions, incident_id: uuid.UUID) -> list[TimelineEntry]:
    async with sessions() as session:
        entries = await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id, TimelineEntry.source != "intake")
            .order_by(TimelineEntry.at, TimelineEntry.seq)
        )
        return list(entries)


async def test_sent_and_failed_notifications_are_on_the_timeline_and_move_nothing(
    sessions, deps: IntakeDeps, incident_id: uuid.UUID
) -> None:
    async with sessions() as session:
        before = await session.get(IncidentRow, incident_id)
        assert before is not None
        status, updated_at = before.status, before.updated_at
    told = await _apply(sessions, deps, sent(incident_id, T0 + timedelta(seconds=2), attempts=2))
    missed = await _apply(sessions, deps, failed(incident_id, T0 + timedelta(seconds=3)))

    lines = await _lines(sessions, incident_id)
    assert [(e.kind, e.summary, e.source, e.event_id) for e in lines] == [
        ("notified", "Notified alice by email (assigned) after 2 attempts", "notifier", told.id),
        (
            "notification_failed",
            "Could not notify the team of queue service-desk by slack (breached) after 5 attempts: "
            "HTTP 500 from the webhook",
            "notifier",
            missed.id,
        ),
    ]
    assert lines[0].at == T0 + timedelta(seconds=2)
    assert lines[0].data["recipient"] == "alice" and lines[0].data["channel"] == "email"
    assert lines[1].data["error"] == "HTTP 500 from the webhook"
    async with sessions() as session:
        after = await session.get(IncidentRow, incident_id)
        assert after is not None
        assert (after.status, after.updated_at) == (status, updated_at)


async def test_a_notification_about_an_unknown_incident_is_refused(sessions, deps: IntakeDeps) -> None:
    with pytest.raises(NotFound):
        await _apply(sessions, deps, sent(uuid.uuid4(), T0))


async def test_a_running_intake_projects_the_notifiers_events(infra, prefixed) -> None:
    client, prefix = prefixed
    incident = client.post("/v1/incidents", json=vpn_incident(reporter="dan@example.com")).json()
    iid = uuid.UUID(incident["id"])
    start = datetime.fromisoformat(incident["created_at"])
    events: list[Event] = [
        sent(iid, start + timedelta(seconds=1), kind="created", recipient="dan@example.com", role="reporter"),
        failed(iid, start + timedelta(seconds=2)),
    ]
    await publish_events(infra.bootstrap_servers, prefix, NOTIFIER, events)

    def timeline() -> list[dict[str, Any]] | None:
        lines: list[dict[str, Any]] = client.get(f"/v1/incidents/{iid}/timeline").json()
        return lines if len(lines) == 1 + len(events) else None

    lines = await eventually(timeline, timeout=30, what="the notifier's events on the timeline")
    assert [(e["kind"], e["source"]) for e in lines[1:]] == [
        ("notified", "notifier"),
        ("notification_failed", "notifier"),
    ]
    assert lines[1]["summary"] == "Notified the reporter dan@example.com by email (created)"
