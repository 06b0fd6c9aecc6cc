"""Who hears of which event: the pure decision, over incident views and a directory."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tierline_notifier.domain.audience import audience, is_address, owed, people_needed
from tierline_notifier.domain.directory import Contact, Person, Rule, Step, Team
from tierline_notifier.domain.incident import IncidentView, reference
from tierline_shared.events import (
    IncidentAcknowledged,
    IncidentAssigned,
    IncidentCreated,
    IncidentEscalated,
    IncidentRenotified,
    IncidentResolved,
    SlaBreached,
    SlaWarning,
    VendorCaseRejected,
    VendorDeliveryFailed,
)

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
ID = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000000")
EMAIL = Contact(name="work", type="email", address="alice@example.com")
CHAT = Contact(name="chat", type="mattermost", url="https://chat.example.com/hooks/abc")
ALICE = Person(name="alice", contacts=[CHAT, EMAIL])
PAGED = Person(
    name="alice",
    contacts=[CHAT, EMAIL],
    rules=[
        Rule(
            urgency=["high"], notify=[Step(contact="chat"), Step(contact="work", after=timedelta(minutes=5))]
        ),
        Rule(urgency=["low"], kinds=["assigned", "sla_breached"], notify=[Step(contact="work")]),
    ],
)
DESK = Team(
    name="desk", lead="lena", channels=[Contact(name="room", type="slack", url="https://hooks.slack.com/x")]
)
LENA = Person(name="lena", contacts=[Contact(name="work", type="email", address="lena@example.com")])
HELD = IncidentView(
    incident_id=ID,
    title="VPN down",
    priority="P2",
    reporter="rita@example.com",
    tier="L1",
    queue="desk",
    assignee="alice",
    queues={"L1": "desk"},
)


def created(reporter: str = "rita@example.com", priority: str = "P3") -> IncidentCreated:
    return IncidentCreated(
        incident_id=ID,
        title="VPN down",
        service="vpn",
        category="network",
        priority=priority,  # type: ignore[arg-type]
        channel="web",
        reporter=reporter,
        created_at=NOW,
    )


def assigned(assignee: str | None, queue: str = "desk", tier: str = "L1") -> IncidentAssigned:
    return IncidentAssigned(incident_id=ID, tier=tier, queue=queue, assignee=assignee, assigned_at=NOW)  # type: ignore[arg-type]


def told(event, before: IncidentView) -> list[tuple[str, str, str]]:
    return [(a.kind, a.role, a.name) for a in audience(event, before, before.after(event))]


def test_the_reporter_hears_of_a_new_ticket_only_when_they_are_an_email_address() -> None:
    empty = IncidentView(incident_id=ID)
    assert told(created(), empty) == [("reporter_created", "reporter", "rita@example.com")]
    assert told(created(reporter="zabbix"), empty) == []
    assert not is_address("Rita <rita@example.com>") and not is_address("rita@localhost")


def test_an_assignment_tells_the_assignee_or_the_team_while_nobody_is_free() -> None:
    before = IncidentView(incident_id=ID, priority="P3")
    assert told(assigned("alice"), before) == [("assigned", "assignee", "alice")]
    assert told(assigned(None), before) == [("team_waiting", "team", "desk")]
    # the same holder announced again (a priority re-evaluation) tells nobody twice
    assert told(assigned("alice"), HELD) == []


def test_a_p1_is_announced_to_the_team_once_its_queue_is_known_whatever_the_order() -> None:
    empty = IncidentView(incident_id=ID)
    first_assigned = empty.after(assigned("alice"))
    assert ("p1_created", "team", "desk") in told(created(priority="P1"), first_assigned)
    after_created = empty.after(created(priority="P1"))
    assert ("p1_created", "team", "desk") in told(assigned("alice"), after_created)
    announced = replace(first_assigned.after(created(priority="P1")), p1_announced=True)
    assert all(kind != "p1_created" for kind, _, _ in told(assigned("bob"), announced))


def test_renotify_goes_to_the_next_contact_of_the_rule() -> None:
    event = IncidentRenotified(
        incident_id=ID, tier="L1", queue="desk", assignee="alice", attempt=1, of=3, at=NOW
    )
    (a,) = audience(event, HELD, HELD.after(event))
    (message,) = owed([a], "P2", {"alice": PAGED}, {})
    assert (message.contact, message.delay) == (EMAIL, timedelta(0))  # the second step, at once
    again = replace(a, step=7)  # past the end: the last contact
    assert owed([again], "P2", {"alice": PAGED}, {})[0].contact == EMAIL


def test_escalation_tells_the_new_holder_and_the_previous_one() -> None:
    event = IncidentEscalated(
        incident_id=ID,
        from_tier="L1",
        to_tier="L2",
        reason="sla_breach",
        queue="net",
        assignee="dave",
        escalated_at=NOW,
    )
    assert told(event, HELD) == [
        ("escalated", "assignee", "dave"),
        ("escalated_fyi", "previous_assignee", "alice"),
    ]
    to_vendor = event.model_copy(update={"to_tier": "L4", "queue": None, "assignee": None, "vendor": "acme"})
    assert told(to_vendor, HELD) == [("escalated_fyi", "previous_assignee", "alice")]


def test_sla_warnings_reach_the_lead_only_at_the_last_one_and_breaches_always() -> None:
    warning = SlaWarning(
        incident_id=ID,
        clock="resolution",
        threshold=0.5,
        due_at=NOW,
        elapsed_seconds=1,
        remaining_seconds=1,
        at=NOW,
    )
    assert told(warning, HELD) == [("sla_warning", "assignee", "alice")]
    last = warning.model_copy(update={"threshold": 0.9, "last": True})
    assert told(last, HELD) == [("sla_warning", "assignee", "alice"), ("sla_warning", "lead", "desk")]
    breach = SlaBreached(incident_id=ID, clock="resolution", due_at=NOW, breached_at=NOW)
    assert told(breach, HELD) == [("sla_breached", "assignee", "alice"), ("sla_breached", "lead", "desk")]
    assert people_needed(audience(breach, HELD, HELD), {"desk": DESK}) == {"alice", "lena"}
    messages = owed(audience(breach, HELD, HELD), "P2", {"alice": ALICE, "lena": LENA}, {"desk": DESK})
    assert [(m.recipient, m.contact.name if m.contact else None) for m in messages] == [
        ("alice", "chat"),
        ("alice", "work"),
        ("lena", "work"),
    ]


def test_vendor_trouble_goes_to_the_l3_queue_that_held_it() -> None:
    at_vendor = replace(HELD, tier="L4", queue=None, assignee=None, queues={"L1": "desk", "L3": "experts"})
    failed = VendorDeliveryFailed(
        incident_id=ID, vendor="acme", case_id=uuid.uuid4(), attempts=8, last_error="HTTP 503", failed_at=NOW
    )
    (a,) = audience(failed, at_vendor, at_vendor)
    assert (a.kind, a.name, a.facts["what"], a.facts["detail"]) == (
        "vendor_trouble",
        "experts",
        "delivery_failed",
        "HTTP 503",
    )
    rejected = VendorCaseRejected(incident_id=ID, vendor="acme", case_id=uuid.uuid4(), rejected_at=NOW)
    assert told(rejected, at_vendor) == [("vendor_trouble", "team", "experts")]
    assert told(rejected, HELD) == []  # never at L3: no queue to tell


def test_resolution_mails_the_reporter_and_silences_agents() -> None:
    resolved = IncidentResolved(incident_id=ID, resolved_at=NOW, resolution_code="fixed")
    assert told(resolved, HELD) == [("reporter_resolved", "reporter", "rita@example.com")]
    done = replace(HELD, status="resolved")
    breach = SlaBreached(incident_id=ID, clock="resolution", due_at=NOW, breached_at=NOW)
    assert audience(breach, done, done) == []
    assert HELD.after(IncidentAcknowledged(incident_id=ID, acknowledged_at=NOW)).status == "acknowledged"


@pytest.mark.parametrize(
    ("people", "reason"),
    [
        ({}, "alice is not in the notification directory"),
        ({"alice": Person(name="alice")}, "alice has no contacts"),
        ({"alice": PAGED}, "no rule of alice's sends sla_warning at low urgency"),
    ],
)
def test_someone_without_a_way_to_reach_them_is_skipped_with_the_reason(people, reason) -> None:
    warning = SlaWarning(
        incident_id=ID,
        clock="resolution",
        threshold=0.5,
        due_at=NOW,
        elapsed_seconds=1,
        remaining_seconds=1,
        at=NOW,
    )
    (message,) = owed(audience(warning, HELD, HELD), "P4", people, {})
    assert (message.contact, message.skipped) == (None, reason)


def test_rules_pick_contacts_and_delays_by_urgency_and_kind() -> None:
    high = PAGED.steps("assigned", "high")
    assert [(c.name, d) for c, d in high] == [("chat", timedelta(0)), ("work", timedelta(minutes=5))]
    assert [c.name for c, _ in PAGED.steps("assigned", "low")] == ["work"]
    assert PAGED.steps("escalated_fyi", "low") == []
    assert [c.name for c, _ in ALICE.steps("escalated_fyi", "low")] == ["chat", "work"]  # no rules: all


def test_directory_refuses_rules_naming_unknown_contacts_and_contacts_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="names contacts the person does not have: pager"):
        Person(name="x", contacts=[EMAIL], rules=[Rule(notify=[Step(contact="pager")])])
    with pytest.raises(ValueError, match="an email contact has an address and no url"):
        Contact(name="w", type="email", url="https://x")
    with pytest.raises(ValueError, match="contact names must be unique"):
        Person(name="x", contacts=[EMAIL, EMAIL])


def test_reference_and_secrets_shown_by_fingerprint() -> None:
    assert reference(ID) == "TL-1A2B3C4D"
    assert CHAT.shown().startswith("sha256:") and "abc" not in CHAT.shown()
    assert EMAIL.shown() == "alice@example.com"


def test_an_assignee_who_leads_the_queue_hears_a_breach_once_and_a_namesake_team_still_hears() -> None:
    led_by_alice = Team(name="desk", lead="alice", channels=[])
    breach = SlaBreached(incident_id=ID, clock="resolution", due_at=NOW, breached_at=NOW)
    messages = owed(audience(breach, HELD, HELD), "P2", {"alice": ALICE}, {"desk": led_by_alice})
    assert [(m.role, m.contact.name if m.contact else None) for m in messages] == [
        ("assignee", "chat"),
        ("assignee", "work"),
    ]
    namesake = Team(
        name="alice", channels=[Contact(name="chat", type="slack", url="https://hooks.slack.com/y")]
    )
    waiting = replace(HELD, queue="alice", assignee=None)
    p1 = audience(breach, waiting, replace(waiting, priority="P1"))
    both = owed(p1, "P1", {}, {"alice": namesake})
    assert {(m.role, m.recipient, m.contact.name) for m in both if m.contact} == {("team", "alice", "chat")}
