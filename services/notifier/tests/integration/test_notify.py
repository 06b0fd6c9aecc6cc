"""Events in, mail out: who hears what, through a real SMTP server, sent once per (event, recipient,
contact) however often the event is delivered, retried on a schedule and dead-lettered in the end."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from tierline_shared.events import (
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentRenotified,
    IncidentResolved,
    NotificationFailed,
    NotificationSent,
    SlaBreached,
    SlaWarning,
)
from tierline_shared.links import LinkSigner

from .conftest import LINK_SECRET, Mailbox, Notifier, body_text, mails_to

pytestmark = pytest.mark.integration


def created(
    incident_id: uuid.UUID, notifier: Notifier, priority: str = "P3", reporter: str = "rita@example.com"
) -> IncidentCreated:
    return IncidentCreated(
        incident_id=incident_id,
        title="VPN drops every hour",
        service="vpn",
        category="network",
        priority=priority,  # type: ignore[arg-type]
        channel="web",
        reporter=reporter,
        created_at=notifier.clock.now(),
    )


def assigned(incident_id: uuid.UUID, notifier: Notifier, assignee: str | None, **fields) -> IncidentAssigned:
    values = {
        "tier": "L1",
        "queue": "desk",
        "assignee": assignee,
        "assigned_at": notifier.clock.now(),
        **fields,
    }
    return IncidentAssigned(incident_id=incident_id, **values)


def link_in(text: str) -> str:
    return next(word for word in text.split() if "/v1/links/" in word)


async def test_the_assignee_and_the_reporter_get_mail_with_links_that_act(
    notifier: Notifier, mailbox: Mailbox
) -> None:
    incident = uuid.uuid4()
    await notifier.feed(created(incident, notifier))
    await notifier.feed(assigned(incident, notifier, "alice"))
    await notifier.settle()

    (welcome,) = await mails_to(mailbox, "rita@example.com")
    reference = "TL-" + incident.hex[:8].upper()
    assert reference in welcome["Subject"]
    assert welcome["Auto-Submitted"] == "auto-generated"
    (work,) = await mails_to(mailbox, "alice@example.com")
    assert "VPN drops every hour" in work["Subject"] and reference in work["Subject"]
    text = body_text(work)
    claim = LinkSigner([LINK_SECRET]).verify(
        urlsplit(link_in(text)).path.rsplit("/", 1)[1], now=notifier.clock.now()
    )
    assert (claim.purpose, claim.incident_id, claim.person) == ("acknowledge", incident, "alice")
    rows = await notifier.rows(incident)
    assert {(r.recipient, r.status, r.attempts) for r in rows} == {
        ("rita@example.com", "sent", 1),
        ("alice", "sent", 1),
    }
    assert work["Message-ID"] == f"<{next(r.id for r in rows if r.recipient == 'alice')}@tierline>"
    sent = [e for e in await notifier.events() if isinstance(e, NotificationSent)]
    assert {(e.recipient, e.kind, e.channel) for e in sent} == {
        ("rita@example.com", "reporter_created", "email"),
        ("alice", "assigned", "email"),
    }

    await notifier.feed(
        IncidentResolved(incident_id=incident, resolved_at=notifier.clock.now(), resolution_code="fixed")
    )
    await notifier.settle()
    _, resolved = await mails_to(mailbox, "rita@example.com", 2)
    links = [w for w in body_text(resolved).split() if "/v1/links/" in w]
    assert {urlsplit(u).query for u in links} >= {f"score={n}" for n in range(1, 6)}
    csat = LinkSigner([LINK_SECRET]).verify(
        urlsplit(links[0]).path.rsplit("/", 1)[1], now=notifier.clock.now()
    )
    assert (csat.purpose, csat.person) == ("csat", "rita@example.com")
    assert csat.expires_at - notifier.clock.now() == timedelta(days=14)


async def test_a_redelivered_event_sends_nothing_twice(notifier: Notifier, mailbox: Mailbox) -> None:
    incident = uuid.uuid4()
    await notifier.feed(created(incident, notifier))
    envelope = await notifier.feed(assigned(incident, notifier, "alice"))
    await notifier.settle()
    for _ in range(3):  # Kafka redelivers after a crash between the handler's commit and the offset's
        await notifier.feed(envelope.data, envelope_id=envelope.id)  # type: ignore[arg-type]
    await notifier.settle()
    assert len(mailbox.to("alice@example.com")) == 1
    assert len([r for r in await notifier.rows(incident) if r.recipient == "alice"]) == 1


async def test_escalation_warning_and_breach_reach_holder_previous_holder_and_lead(
    notifier: Notifier, mailbox: Mailbox
) -> None:
    incident = uuid.uuid4()
    await notifier.feed(created(incident, notifier, priority="P2"))
    await notifier.feed(assigned(incident, notifier, "alice"))
    await notifier.feed(
        IncidentEscalated(
            incident_id=incident,
            from_tier="L1",
            to_tier="L2",
            reason="sla_breach",
            queue="net",
            assignee="dave",
            escalated_at=notifier.clock.now(),
        )
    )
    now = notifier.clock.now()
    warn = dict(
        clock="resolution",
        due_at=now + timedelta(hours=1),
        elapsed_seconds=60,
        remaining_seconds=3600,
        at=now,
    )
    await notifier.feed(SlaWarning(incident_id=incident, threshold=0.5, **warn))
    await notifier.feed(SlaWarning(incident_id=incident, threshold=0.9, last=True, **warn))
    await notifier.feed(SlaBreached(incident_id=incident, clock="resolution", due_at=now, breached_at=now))
    await notifier.send_round()  # what is due now; dave's home address waits its 5 minutes
    kinds = {(r.recipient, r.contact, r.kind, r.status) for r in await notifier.rows(incident)}
    assert ("alice", "work", "escalated_fyi", "sent") in kinds
    assert ("dave", "work", "escalated", "sent") in kinds
    assert ("dave", "home", "escalated", "pending") in kinds
    assert ("dave", "work", "sla_warning", "sent") in kinds
    assert [k for k in kinds if k[0] == "lena"] != []  # the lead hears of the last warning and the breach
    assert {k[2] for k in kinds if k[0] == "lena"} == {"sla_warning", "sla_breached"}
    assert len(mailbox.to("lena@example.com")) == 2
    fyi = mailbox.to("alice@example.com")[-1]
    assert "L2" in body_text(fyi)


async def test_an_acknowledgement_cancels_delayed_messages_and_renotify_uses_the_next_contact(
    notifier: Notifier, mailbox: Mailbox
) -> None:
    incident = uuid.uuid4()
    await notifier.feed(created(incident, notifier))
    await notifier.feed(assigned(incident, notifier, "dave", queue="net", tier="L2"))
    await notifier.send_round()
    await notifier.feed(
        IncidentRenotified(
            incident_id=incident,
            tier="L2",
            queue="net",
            assignee="dave",
            attempt=1,
            of=3,
            at=notifier.clock.now(),
        )
    )
    await notifier.send_round()
    assert (
        len(mailbox.to("dave@home.example.com")) == 1
    )  # the renotification: the rule's next contact, at once
    await notifier.feed(
        IncidentAcknowledged(incident_id=incident, acknowledged_at=notifier.clock.now(), by="dave")
    )
    notifier.clock.advance(timedelta(minutes=10))
    await notifier.settle()
    statuses = {(r.contact, r.kind): r.status for r in await notifier.rows(incident) if r.recipient == "dave"}
    assert statuses == {
        ("work", "assigned"): "sent",
        ("home", "assigned"): "cancelled",
        ("home", "renotified"): "sent",
    }
    assert len(mailbox.to("dave@home.example.com")) == 1


async def test_someone_without_contacts_is_skipped_not_failed(notifier: Notifier, mailbox: Mailbox) -> None:
    incident = uuid.uuid4()
    await notifier.feed(assigned(incident, notifier, "nobody"))
    await notifier.feed(assigned(incident, notifier, "zed"))
    rows = await notifier.rows(incident)
    assert [(r.recipient, r.status, r.last_error) for r in rows] == [
        ("nobody", "skipped", "nobody has no contacts"),
        ("zed", "skipped", "zed is not in the notification directory"),
    ]
    await notifier.settle()
    assert mailbox.received == []
    assert not [e for e in await notifier.events() if isinstance(e, NotificationFailed)]


async def test_a_refusing_mail_server_is_retried_on_the_schedule_then_dead_lettered(
    notifier: Notifier, mailbox: Mailbox
) -> None:
    incident = uuid.uuid4()
    mailbox.refuse = "451 4.3.0 try again later"
    await notifier.feed(created(incident, notifier, reporter="zabbix"))
    await notifier.feed(assigned(incident, notifier, "alice"))
    await notifier.send_round()
    (row,) = await notifier.rows(incident)
    assert (row.status, row.attempts) == ("pending", 1) and "451" in (row.last_error or "")
    assert timedelta(seconds=10) <= row.next_attempt_at - notifier.clock.now() <= timedelta(seconds=11)
    await notifier.settle()  # the schedule has three attempts: 0s, 10s, 1m
    (row,) = await notifier.rows(incident)
    assert (row.status, row.attempts) == ("dead", 3)
    (failed,) = [e for e in await notifier.events() if isinstance(e, NotificationFailed)]
    assert (failed.recipient, failed.attempts) == ("alice", 3) and "451" in failed.error

    mailbox.refuse = "550 5.1.1 no such user"  # permanent: dead at the first attempt
    other = uuid.uuid4()
    await notifier.feed(created(other, notifier, reporter="zabbix"))
    await notifier.feed(assigned(other, notifier, "alice"))
    await notifier.send_round()
    (row,) = await notifier.rows(other)
    assert (row.status, row.attempts) == ("dead", 1) and "550" in (row.last_error or "")


async def test_an_assignment_consumed_before_its_creation_waits_for_it_and_is_worded_from_it(
    notifier: Notifier, mailbox: Mailbox
) -> None:
    incident = uuid.uuid4()
    await notifier.feed(assigned(incident, notifier, "alice"))  # the routing topic came first
    await notifier.send_round()
    assert mailbox.to("alice@example.com") == []  # it waits a moment for the creation
    await notifier.feed(created(incident, notifier, reporter="zabbix"))
    notifier.clock.advance(timedelta(seconds=3))
    await notifier.send_round()
    (mail,) = await mails_to(mailbox, "alice@example.com")
    assert "VPN drops every hour" in mail["Subject"]
