"""The lines other services' events put on an incident's timeline (pure, no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_intake.domain.timeline import Line, line, span
from tierline_shared import events

T = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DUE = T + timedelta(hours=1)
ID = uuid.uuid4()
CASE = uuid.uuid4()


def assigned(assignee: str | None, reason: str) -> events.IncidentAssigned:
    return events.IncidentAssigned(
        incident_id=ID, tier="L2", queue="network", assignee=assignee, reason=reason, assigned_at=T
    )


@pytest.mark.parametrize(
    ("assignee", "reason", "summary"),
    [
        ("bob", "routed", "Assigned to bob in network (L2)"),
        ("bob", "reassigned", "Reassigned to bob in network (L2)"),
        ("bob", "dequeued", "Taken from queue network (L2) by bob"),
        ("bob", "priority_change", "Priority changed; assigned to bob in network (L2)"),
        (None, "routed", "Waiting in queue network (L2) for a free agent"),
        (None, "reopened", "Reopened: waiting in queue network (L2) for a free agent"),
    ],
)
def test_an_assignment_says_who_holds_it_and_why(assignee: str | None, reason: str, summary: str) -> None:
    assert line(assigned(assignee, reason)) == Line("assigned", T, summary)


def escalated(**fields: object) -> events.IncidentEscalated:
    base: dict = {
        "incident_id": ID,
        "from_tier": "L2",
        "to_tier": "L3",
        "reason": "manual",
        "escalated_at": T,
    }
    return events.IncidentEscalated(**(base | fields))


@pytest.mark.parametrize(
    ("fields", "kind", "summary"),
    [
        ({"assignee": "bob", "queue": "db"}, "escalated", "Escalated L2 -> L3 (manual) to bob in db"),
        ({"queue": "db", "note": "urgent"}, "escalated",
         "Escalated L2 -> L3 (manual) to queue db (waiting for a free agent): urgent"),
        ({"to_tier": "L4", "vendor": "acme"}, "escalated", "Escalated L2 -> L4 (manual) to vendor acme"),
        ({"from_tier": "L4", "direction": "down"}, "de_escalated",
         "De-escalated L4 -> L3 (manual), handed back to nobody yet"),
    ],
)  # fmt: skip
def test_an_escalation_says_where_it_went(fields: dict, kind: str, summary: str) -> None:
    assert line(escalated(**fields)) == Line(kind, T, summary)


@pytest.mark.parametrize(
    ("event", "kind", "summary"),
    [
        (
            events.IncidentEscalationBlocked(
                incident_id=ID,
                tier="L3",
                reason="manual",
                cause="top_of_ladder",
                detail="no tier above",
                at=T,
            ),
            "escalation_blocked",
            "Escalation (manual) blocked at L3: no tier above",
        ),
        (
            events.IncidentRenotified(
                incident_id=ID, tier="L1", queue="q", assignee=None, attempt=2, of=3, at=T
            ),
            "renotified",
            "No acknowledgement within the timeout at L1 (queue q); renotify 2 of 3",
        ),
        (
            events.SlaClockStarted(incident_id=ID, clock="tier", tier="L1", due_at=DUE, started_at=T),
            "sla_clock_started",
            f"SLA tier (L1) clock due {DUE.isoformat()}",
        ),
        (
            events.SlaBreached(incident_id=ID, clock="vendor_response", due_at=T, breached_at=T),
            "sla_breached",
            "SLA vendor response breached",
        ),
        (
            events.SlaMet(incident_id=ID, clock="resolution", due_at=T, met_at=T),
            "sla_met",
            "SLA resolution met",
        ),
        (
            events.SlaRecalculated(
                incident_id=ID, clock="resolution", old_due_at=T, due_at=DUE, reason="priority", at=T
            ),
            "sla_recalculated",
            f"SLA resolution now due {DUE.isoformat()}",
        ),
        (
            events.SlaWarning(
                incident_id=ID,
                clock="resolution",
                threshold=0.9,
                due_at=DUE,
                elapsed_seconds=9,
                remaining_seconds=1440.5,
                at=T,
            ),
            "sla_warning",
            f"Resolution SLA at 90 %: 24m left (due {DUE.isoformat()})",
        ),
        (
            events.VendorCaseOpened(
                incident_id=ID, vendor="acme", case_id=CASE, vendor_reference="R-1", opened_at=T
            ),
            "vendor_case_opened",
            "Case handed to vendor acme (reference R-1)",
        ),
        (
            events.VendorCaseUpdated(
                incident_id=ID, vendor="acme", case_id=CASE, status="working", note="hi", updated_at=T
            ),
            "vendor_case_updated",
            "Vendor acme: working - hi",
        ),
        (
            events.VendorCaseAcknowledged(
                incident_id=ID, vendor="acme", case_id=CASE, vendor_reference="R-1", acknowledged_at=T
            ),
            "vendor_case_acknowledged",
            "Vendor acme took the case on as R-1",
        ),
        (
            events.VendorCaseRejected(
                incident_id=ID, vendor="acme", case_id=CASE, reason="not ours", rejected_at=T
            ),
            "vendor_case_rejected",
            "Vendor acme rejected the case: not ours",
        ),
        (
            events.VendorEndpointDisabled(
                incident_id=ID, vendor="acme", case_id=CASE, url="https://x", disabled_at=T
            ),
            "vendor_endpoint_disabled",
            "Vendor acme's webhook answered 410 Gone; deliveries to it are disabled",
        ),
        (
            events.VendorCaseResolved(incident_id=ID, vendor="acme", case_id=CASE, resolved_at=T),
            "vendor_case_resolved",
            "Vendor acme resolved the case",
        ),
        (
            events.VendorDeliveryFailed(
                incident_id=ID, vendor="acme", case_id=CASE, attempts=5, last_error="503", failed_at=T
            ),
            "vendor_delivery_failed",
            "Handoff to acme failed after 5 attempts: 503",
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, events.IncidentEvent) else "",
)
def test_each_event_tells_its_line(event: events.IncidentEvent, kind: str, summary: str) -> None:
    assert line(event) == Line(kind, T, summary)


def test_a_pause_or_resume_names_the_tier_the_view_holds() -> None:
    paused = events.SlaClockPaused(
        incident_id=ID,
        clock="tier",
        reason="awaiting_customer",
        elapsed_seconds=1,
        remaining_seconds=11400,
        at=T,
    )
    resumed = events.SlaClockResumed(incident_id=ID, clock="tier", due_at=DUE, at=T)
    assert line(paused, clock_tier="L2").summary == "Tier (L2) clock paused (awaiting_customer), 3h10m left"
    assert line(paused).summary == "Tier clock paused (awaiting_customer), 3h10m left"
    assert line(resumed, clock_tier="L2") == Line(
        "sla_clock_resumed", T, f"Tier (L2) clock resumed, due {DUE.isoformat()}"
    )


def test_an_event_intake_does_not_project_has_no_line() -> None:
    with pytest.raises(TypeError, match="IncidentAcknowledged"):
        line(events.IncidentAcknowledged(incident_id=ID, acknowledged_at=T))


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(-3, "0s"), (45.9, "45s"), (600, "10m"), (3600, "1h"), (11400, "3h10m"), (187200, "2d4h")],
)
def test_business_time_as_people_say_it(seconds: float, said: str) -> None:
    assert span(seconds) == said


def sent(role: str, recipient: str, *, channel: str = "email", attempts: int = 1) -> events.NotificationSent:
    return events.NotificationSent(
        incident_id=ID,
        notification_id=uuid.uuid4(),
        kind="assigned",
        recipient=recipient,
        role=role,
        channel=channel,
        attempts=attempts,
        sent_at=T,
    )


@pytest.mark.parametrize(
    ("role", "recipient", "channel", "attempts", "summary"),
    [
        ("assignee", "alice", "email", 1, "Notified alice by email (assigned)"),
        ("assignee", "alice", "slack", 3, "Notified alice by slack (assigned) after 3 attempts"),
        ("previous_assignee", "bob", "email", 1, "Notified bob (previous assignee) by email (assigned)"),
        ("lead", "carol", "teams", 1, "Notified carol (queue lead) by teams (assigned)"),
        ("team", "service-desk", "mattermost", 1,
         "Notified the team of queue service-desk by mattermost (assigned)"),
        ("reporter", "dan@example.com", "email", 1,
         "Notified the reporter dan@example.com by email (assigned)"),
    ],
)  # fmt: skip
def test_a_sent_notification_says_who_was_told_how_and_why(
    role: str, recipient: str, channel: str, attempts: int, summary: str
) -> None:
    assert line(sent(role, recipient, channel=channel, attempts=attempts)) == Line("notified", T, summary)


def test_a_failed_notification_says_who_was_not_told_and_the_error() -> None:
    failed = events.NotificationFailed(
        incident_id=ID,
        notification_id=uuid.uuid4(),
        kind="breached",
        recipient="alice",
        role="assignee",
        channel="email",
        attempts=6,
        error="550 mailbox unavailable",
        failed_at=T,
    )
    assert line(failed) == Line(
        "notification_failed",
        T,
        "Could not notify alice by email (breached) after 6 attempts: 550 mailbox unavailable",
    )


def test_a_renotification_says_what_the_router_decided_not_who_was_paged() -> None:
    renotified = events.IncidentRenotified(
        incident_id=ID, tier="L2", queue="network", assignee="bob", attempt=1, of=2, at=T
    )
    summary = line(renotified).summary
    assert summary == "No acknowledgement within the timeout at L2 (bob); renotify 1 of 2"
    assert "paged" not in summary
