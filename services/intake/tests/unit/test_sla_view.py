"""How intake's view of an SLA clock follows what the SLA monitor reports (pure, no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tierline_intake.domain.lifecycle import Status
from tierline_intake.domain.sla import ClockEvent, started_view, view_changes
from tierline_shared import events

T = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DUE = T + timedelta(hours=1)
ID = uuid.uuid4()


@pytest.mark.parametrize(
    ("clock", "status", "state"),
    [
        ("tier", Status.OPEN, "running"),
        ("tier", Status.RESOLVED, "cancelled"),  # never to be stopped: shown cancelled
        ("tier", Status.CLOSED, "cancelled"),
        ("resolution", Status.RESOLVED, "running"),
    ],
)
def test_a_started_clock_replaces_the_view(clock: str, status: Status, state: str) -> None:
    event = events.SlaClockStarted(incident_id=ID, clock=clock, tier="L1", due_at=DUE, started_at=T)
    assert started_view(event, incident_status=status) == {
        "tier": "L1",
        "state": state,
        "due_at": DUE,
        "breached_at": None,
        "met_at": None,
        "remaining_seconds": None,
        "warning_threshold": None,
        "last_warning": False,
    }


L1: dict = {"incident_id": ID, "clock": "tier", "tier": "L1"}
BREACHED = events.SlaBreached(**L1, due_at=T, breached_at=T)
MET = events.SlaMet(**L1, due_at=DUE, met_at=T)
RECALCULATED = events.SlaRecalculated(**L1, old_due_at=T, due_at=DUE, reason="priority", at=T)
WARNING = events.SlaWarning(**L1, threshold=0.75, due_at=DUE, elapsed_seconds=180, remaining_seconds=60, at=T)
LAST_WARNING = events.SlaWarning(
    **L1, threshold=0.9, last=True, due_at=DUE, elapsed_seconds=216, remaining_seconds=24, at=T
)
PAUSED = events.SlaClockPaused(
    incident_id=ID, clock="tier", reason="awaiting_customer", elapsed_seconds=1, remaining_seconds=600, at=T
)
RESUMED = events.SlaClockResumed(incident_id=ID, clock="tier", due_at=DUE, at=T)


@pytest.mark.parametrize(
    ("event", "state", "changes"),
    [
        (BREACHED, "running", {"state": "breached", "breached_at": T, "remaining_seconds": None}),
        (MET, "breached", {"state": "met", "met_at": T, "breached_at": None}),  # in time after all
        (RECALCULATED, "paused", {"due_at": DUE}),
        (WARNING, "running", {"warning_threshold": 0.75, "last_warning": False}),
        (LAST_WARNING, "paused", {"warning_threshold": 0.9, "last_warning": True}),
        (WARNING, "met", {}),  # a stopped clock keeps its last threshold
        (PAUSED, "running", {"state": "paused", "due_at": None, "remaining_seconds": 600}),
        (PAUSED, "breached", {}),
        (RESUMED, "paused", {"state": "running", "due_at": DUE, "remaining_seconds": None}),
        (RESUMED, "cancelled", {}),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, (str, dict)) else str(value)[:20],
)
def test_the_view_follows_its_clock(event: ClockEvent, state: str, changes: dict) -> None:
    assert view_changes(event, state=state, tier="L1") == changes


@pytest.mark.parametrize("event", [BREACHED, MET, RECALCULATED, WARNING])
def test_a_newer_tier_clock_is_left_alone(event: ClockEvent) -> None:
    assert view_changes(event, state="running", tier="L2") == {}


@pytest.mark.parametrize("event", [PAUSED, RESUMED])
def test_pause_and_resume_apply_to_whichever_tier_runs(event: ClockEvent) -> None:
    open_state = "running" if event is PAUSED else "paused"
    assert view_changes(event, state=open_state, tier="L2") != {}


def test_other_clocks_have_no_tier_to_match() -> None:
    met = events.SlaMet(incident_id=ID, clock="resolution", due_at=DUE, met_at=T)
    assert view_changes(met, state="running", tier=None)["state"] == "met"
