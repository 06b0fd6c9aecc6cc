"""The Incident aggregate: its transitions, its rules and the events it returns (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_intake.config import DEFAULT_MATRIX
from tierline_intake.domain.incident import Incident
from tierline_intake.domain.lifecycle import IllegalTransition, Status
from tierline_intake.domain.priority import PriorityDecision
from tierline_shared.errors import Conflict
from tierline_shared.events import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentCreated,
    IncidentPutOnHold,
    IncidentReopened,
    IncidentResolved,
    IncidentResumed,
    IncidentUpdated,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)
MATRIX = DEFAULT_MATRIX.matrix


def new(**overrides: object) -> Incident:
    fields: dict = {
        "id": uuid.uuid4(),
        "title": "VPN down",
        "description": "",
        "service": "vpn",
        "category": "network",
        "channel": "web",
        "reporter": "alice@example.com",
        "impact": "high",
        "urgency": "medium",
        "decision": PriorityDecision("P2", "matrix"),
        "dedup_key": None,
        "now": T0,
        **overrides,
    }
    return Incident.create(**fields)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def resolved() -> Incident:
    incident = new()
    incident.resolve(now=at(10), by="bob", resolution_code="fixed")
    return incident


# -- birth and occurrences ---------------------------------------------------------------------


def test_a_new_incident_is_open_and_announces_itself() -> None:
    incident = new(knowledge=[{"title": "VPN FAQ", "url": "https://kb/vpn"}], details={"k": "v"})
    assert incident.status is Status.OPEN
    assert (incident.created_at, incident.updated_at, incident.last_seen_at) == (T0, T0, T0)
    assert (incident.occurrences, incident.reopen_count) == (1, 0)
    assert (incident.priority, incident.priority_source) == ("P2", "matrix")
    happened = incident.created()
    assert happened.kind == "created"
    assert happened.summary == "Created via web by alice@example.com as P2 (matrix)"
    assert happened.data == {"priority": "P2", "priority_source": "matrix", "type": "incident"}
    event = happened.event
    assert isinstance(event, IncidentCreated)
    assert (event.incident_id, event.priority, event.created_at) == (incident.id, "P2", T0)
    assert event.type == incident.type == "incident"  # the default


def test_an_occurrence_counts_without_an_event() -> None:
    incident = new(dedup_key="db1-cpu")
    happened = incident.record_occurrence(channel="monitoring", reporter="prom", title="CPU", now=at(5))
    assert incident.occurrences == 2
    assert incident.last_seen_at == incident.updated_at == at(5)
    assert happened.event is None
    assert happened.summary == "Reported again via monitoring by prom (occurrence 2)"
    assert happened.data == {"occurrences": 2, "title": "CPU"}


# -- acknowledge -------------------------------------------------------------------------------


def test_acknowledge_an_open_incident() -> None:
    incident = new()
    happened = incident.acknowledge(by="bob", now=at(1))
    assert incident.status is Status.ACKNOWLEDGED
    assert incident.acknowledged_at == incident.updated_at == at(1)
    assert isinstance(happened.event, IncidentAcknowledged)
    assert happened.event.by == "bob"
    assert happened.summary == "Acknowledged by bob"


def test_acknowledge_without_a_name_says_an_agent() -> None:
    assert new().acknowledge(by=None, now=at(1)).summary == "Acknowledged by an agent"


def test_an_incident_on_hold_must_be_resumed_before_acknowledging() -> None:
    incident = new()
    incident.put_on_hold(reason="awaiting_customer", note=None, by=None, now=at(1))
    with pytest.raises(IllegalTransition, match="resume it first"):
        incident.acknowledge(by="bob", now=at(2))
    assert incident.status is Status.ON_HOLD


@pytest.mark.parametrize("status", [Status.ACKNOWLEDGED, Status.RESOLVED, Status.CLOSED])
def test_only_an_open_incident_can_be_acknowledged(status: Status) -> None:
    incident = new()
    incident.status = status
    with pytest.raises(IllegalTransition):
        incident.acknowledge(by="bob", now=at(1))


# -- resolve -----------------------------------------------------------------------------------


def test_resolve_records_the_resolution_and_clears_a_hold() -> None:
    incident = new()
    incident.put_on_hold(reason="awaiting_vendor", note=None, by=None, now=at(1))
    happened = incident.resolve(
        now=at(2), by="bob", resolution_code="fixed", note="rebooted", knowledge_article="KB1"
    )
    assert incident.status is Status.RESOLVED
    assert incident.resolved_at == incident.updated_at == at(2)
    assert (incident.resolution_code, incident.resolution_note) == ("fixed", "rebooted")
    assert incident.knowledge_article_used == "KB1"
    assert incident.hold_reason is None
    assert happened.summary == "Resolved by bob: fixed"
    assert isinstance(happened.event, IncidentResolved)
    assert (happened.event.source, happened.event.note) == ("agent", "rebooted")
    assert happened.data == {
        "resolution_code": "fixed",
        "note": "rebooted",
        "source": "agent",
        "knowledge_article": "KB1",
    }


def test_resolve_without_a_person_names_its_source() -> None:
    assert new().resolve(now=at(1), source="integration").summary == "Resolved by integration"


def test_a_resolved_incident_cannot_be_resolved_again() -> None:
    with pytest.raises(IllegalTransition):
        resolved().resolve(now=at(20))


# -- hold and resume ---------------------------------------------------------------------------


def test_put_on_hold_and_resume_to_open() -> None:
    incident = new()
    held = incident.put_on_hold(reason="awaiting_customer", note="asked for logs", by="bob", now=at(1))
    assert (incident.status, incident.hold_reason) == (Status.ON_HOLD, "awaiting_customer")
    assert held.summary == "On hold: awaiting customer - asked for logs"
    assert isinstance(held.event, IncidentPutOnHold)
    resumed = incident.resume(by="bob", now=at(2))
    assert (incident.status, incident.hold_reason) == (Status.OPEN, None)
    assert isinstance(resumed.event, IncidentResumed)
    assert resumed.event.status == "open"
    assert resumed.summary == "Resumed (open)"


def test_resume_returns_to_acknowledged_if_someone_had_taken_it() -> None:
    incident = new()
    incident.acknowledge(by="bob", now=at(1))
    incident.put_on_hold(reason="awaiting_change", note=None, by=None, now=at(2))
    incident.resume(by=None, now=at(3))
    assert incident.status is Status.ACKNOWLEDGED


def test_only_an_incident_on_hold_can_resume() -> None:
    with pytest.raises(IllegalTransition, match="nothing to resume"):
        new().resume(by=None, now=at(1))


def test_a_resolved_incident_cannot_be_put_on_hold() -> None:
    with pytest.raises(IllegalTransition, match="put on hold"):
        resolved().put_on_hold(reason="awaiting_customer", note=None, by=None, now=at(20))


# -- reopen and close --------------------------------------------------------------------------


def test_reopen_within_the_window_clears_the_resolution() -> None:
    incident = resolved()
    incident.acknowledged_at = at(5)
    happened = incident.reopen(reason="still down", by="alice", now=at(60), window=WINDOW)
    assert incident.status is Status.OPEN
    assert incident.resolved_at is incident.resolution_code is incident.resolution_note is None
    assert incident.acknowledged_at is None
    assert incident.reopen_count == 1
    assert happened.summary == "Reopened: still down"
    assert isinstance(happened.event, IncidentReopened)
    assert happened.event.priority == "P2"


def test_reopen_after_the_window_is_refused() -> None:
    incident = resolved()
    with pytest.raises(IllegalTransition, match="reopen window"):
        incident.reopen(reason=None, by=None, now=at(10) + WINDOW + timedelta(seconds=1), window=WINDOW)
    assert incident.status is Status.RESOLVED


def test_reopen_is_refused_while_a_newer_incident_holds_the_dedup_key() -> None:
    incident = resolved()
    newer = uuid.uuid4()
    with pytest.raises(Conflict) as caught:
        incident.reopen(reason=None, by=None, now=at(20), window=WINDOW, newer_open=newer)
    assert caught.value.extensions["open_incident_id"] == str(newer)
    assert incident.status is Status.RESOLVED


def test_an_open_incident_cannot_be_reopened() -> None:
    with pytest.raises(IllegalTransition, match="reopened"):
        new().check_reopen(now=at(1), window=WINDOW)


def test_close_after_resolution() -> None:
    incident = resolved()
    happened = incident.close(by="bob", now=at(30))
    assert incident.status is Status.CLOSED
    assert incident.closed_at == at(30)
    assert isinstance(happened.event, IncidentClosed)
    with pytest.raises(IllegalTransition):
        incident.reopen(reason=None, by=None, now=at(31), window=WINDOW)


def test_an_open_incident_cannot_be_closed() -> None:
    with pytest.raises(IllegalTransition, match="resolve it first"):
        new().close(by=None, now=at(1))


# -- notes and satisfaction --------------------------------------------------------------------


def test_a_note_goes_on_the_timeline_only() -> None:
    incident = new()
    happened = incident.add_note(text="x" * 300, author=None, now=at(1))
    assert happened.event is None
    assert happened.summary == "Note by an agent: " + "x" * 200
    assert happened.data == {"text": "x" * 300, "author": None}
    assert incident.updated_at == at(1)


def test_satisfaction_is_recorded_once_after_resolution() -> None:
    incident = resolved()
    happened = incident.record_csat(score=4, comment="quick", now=at(20))
    assert (incident.csat_score, incident.csat_comment) == (4, "quick")
    assert happened.summary == "Customer satisfaction 4/5"
    assert happened.event is None
    with pytest.raises(Conflict, match="already recorded"):
        incident.record_csat(score=5, comment=None, now=at(21))


def test_satisfaction_before_resolution_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        new().record_csat(score=5, comment=None, now=at(1))


# -- edits -------------------------------------------------------------------------------------


def test_an_edit_of_impact_recomputes_the_priority_from_the_matrix() -> None:
    incident = new(impact="low", urgency="low", decision=PriorityDecision(MATRIX["low"]["low"], "matrix"))
    happened = incident.update({"impact": "high", "urgency": "high"}, by="bob", matrix=MATRIX, now=at(1))
    assert happened is not None
    assert incident.priority == MATRIX["high"]["high"]
    event = happened.event
    assert isinstance(event, IncidentUpdated)
    assert set(event.changes) == {"impact", "urgency", "priority"}
    assert event.changes["impact"].old == "low"
    assert incident.updated_at == at(1)


def test_pinning_the_priority_by_hand_is_a_change() -> None:
    incident = new()
    happened = incident.update({"priority": "P2"}, by=None, matrix=MATRIX, now=at(1))
    assert happened is not None
    assert incident.priority_source == "explicit"
    assert happened.data == {"priority_source": {"old": "matrix", "new": "explicit"}}


def test_an_edit_that_changes_nothing_returns_nothing() -> None:
    incident = new()
    assert incident.update({"title": "VPN down"}, by=None, matrix=MATRIX, now=at(1)) is None
    assert incident.updated_at == T0


def test_a_description_edit_is_summarised_without_its_text() -> None:
    happened = new().update({"description": "long text"}, by=None, matrix=MATRIX, now=at(1))
    assert happened is not None
    assert happened.summary == "Updated: description"


def test_a_resolved_incident_cannot_be_edited() -> None:
    with pytest.raises(IllegalTransition, match="reopen it first"):
        resolved().update({"title": "x"}, by=None, matrix=MATRIX, now=at(20))


# -- what other services did -------------------------------------------------------------------


def test_assignment_and_escalation_follow_the_router_without_moving_time_back() -> None:
    incident = new()
    incident.assigned(tier="L1", queue="service-desk", assignee="bob", at=at(5))
    assert (incident.tier, incident.queue, incident.assignee, incident.updated_at) == (
        "L1",
        "service-desk",
        "bob",
        at(5),
    )
    incident.escalated(tier="L4", queue=None, assignee=None, vendor="acme", at=at(-5))
    assert (incident.tier, incident.vendor, incident.updated_at) == ("L4", "acme", at(5))


def test_the_vendor_reference_is_kept_once_given() -> None:
    incident = new()
    case_id = uuid.uuid4()
    incident.handed_to_vendor(vendor="acme", case_id=case_id, reference=None)
    incident.vendor_said("ACME-1")
    incident.vendor_said(None)
    assert (incident.vendor, incident.vendor_case_id, incident.vendor_reference) == (
        "acme",
        case_id,
        "ACME-1",
    )


def test_linking_a_problem_twice_is_one_change() -> None:
    incident = new()
    problem = uuid.uuid4()
    assert incident.link_problem(problem, now=at(1)) is True
    assert incident.link_problem(problem, now=at(2)) is False
    assert (incident.problem_id, incident.updated_at) == (problem, at(1))
