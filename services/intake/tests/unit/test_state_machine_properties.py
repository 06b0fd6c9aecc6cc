"""Property tests of the incident state machine and of the priority rules."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tierline_intake.config import DEFAULT_MATRIX, Settings, load_priority_matrix
from tierline_intake.domain.lifecycle import (
    OPEN_STATUSES,
    HoldReason,
    IllegalTransition,
    Status,
    can_transition,
    check_csat,
    check_editable,
    check_reopen,
    check_transition,
    is_open,
    status_after_resume,
)
from tierline_intake.domain.priority import LEVELS, PRIORITIES, decide_priority, reprioritise
from tierline_shared.errors import Conflict

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
DEPLOYED_MATRIX = load_priority_matrix(Settings(config_dir=CONFIG_DIR)).matrix
MATRICES = {"default": DEFAULT_MATRIX.matrix, "deployed": DEPLOYED_MATRIX}

statuses = st.sampled_from(list(Status))
levels = st.sampled_from(LEVELS)
priorities = st.sampled_from(PRIORITIES)
maybe_levels = st.none() | levels
maybe_priorities = st.none() | priorities
sources = st.sampled_from(["matrix", "explicit"])
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)

# Higher rank = more severe: "high" outranks "medium"; P1 outranks P2.
LEVEL_RANK = {"low": 0, "medium": 1, "high": 2}
PRIORITY_RANK = {"P4": 0, "P3": 1, "P2": 2, "P1": 3}


def _allowed(current: Status) -> set[Status]:
    return {target for target in Status if can_transition(current, target)}


def _reachable_from_open() -> set[Status]:
    seen, frontier = {Status.OPEN}, [Status.OPEN]
    while frontier:
        for target in _allowed(frontier.pop()):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


# -- the transition table --------------------------------------------------------------------


@given(statuses, statuses)
def test_check_transition_raises_exactly_when_the_move_is_not_allowed(
    current: Status, target: Status
) -> None:
    if can_transition(current, target):
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as caught:
            check_transition(current, target)
        assert caught.value.status == 409
        assert caught.value.extensions == {"current_status": current.value, "requested_status": target.value}


@given(statuses)
def test_no_status_may_stay_where_it_is(status: Status) -> None:
    assert not can_transition(status, status)


@given(statuses)
def test_closed_is_terminal(target: Status) -> None:
    assert not can_transition(Status.CLOSED, target)
    with pytest.raises(IllegalTransition):
        check_transition(Status.CLOSED, target)


def test_every_status_is_reachable_from_open_and_every_target_only_through_allowed_moves() -> None:
    reachable = _reachable_from_open()
    assert reachable == set(Status)
    targets = {target for current in Status for target in _allowed(current)}
    assert targets <= reachable
    # closed is reached only from resolved: every way to closed passes resolution
    assert {s for s in Status if can_transition(s, Status.CLOSED)} == {Status.RESOLVED}
    # only open statuses may be acknowledged or put on hold
    for target in (Status.ACKNOWLEDGED, Status.ON_HOLD):
        assert {s for s in Status if can_transition(s, target)} <= set(OPEN_STATUSES)


@given(statuses)
def test_open_statuses_are_exactly_the_ones_that_can_still_be_resolved(status: Status) -> None:
    assert is_open(status) == can_transition(status, Status.RESOLVED)
    assert is_open(status) == (status in OPEN_STATUSES)


# -- random walks through the lifecycle ------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """What the service layer tracks for the lifecycle: the status and whether someone took it."""

    status: Status = Status.OPEN
    acknowledged: bool = False
    hold_reason: str | None = None


ACTIONS = ("acknowledge", "hold", "resume", "resolve", "reopen", "close")


def apply(incident: Incident, action: str, reason: str) -> Incident:
    """One action as the service layer performs it; raises IllegalTransition when refused."""
    current = incident.status
    if action == "acknowledge":
        if current is not Status.OPEN:
            raise IllegalTransition("only an open incident can be acknowledged")
        check_transition(current, Status.ACKNOWLEDGED)
        return replace(incident, status=Status.ACKNOWLEDGED, acknowledged=True)
    if action == "hold":
        check_transition(current, Status.ON_HOLD)
        return replace(incident, status=Status.ON_HOLD, hold_reason=reason)
    if action == "resume":
        if current is not Status.ON_HOLD:
            raise IllegalTransition("not on hold")
        now = datetime(2030, 1, 1, tzinfo=UTC)
        target = status_after_resume(now if incident.acknowledged else None)
        check_transition(current, target)
        return replace(incident, status=target, hold_reason=None)
    if action == "resolve":
        check_transition(current, Status.RESOLVED)
        return replace(incident, status=Status.RESOLVED, hold_reason=None)
    if action == "reopen":
        check_transition(current, Status.OPEN)
        return Incident(status=Status.OPEN)
    check_transition(current, Status.CLOSED)
    return replace(incident, status=Status.CLOSED)


walks = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.sampled_from([r.value for r in HoldReason])), max_size=40
)


@given(walks)
def test_random_action_sequences_only_visit_defined_statuses_via_allowed_moves(walk) -> None:
    incident = Incident()
    reachable = _reachable_from_open()
    for action, reason in walk:
        before = incident
        try:
            incident = apply(incident, action, reason)
        except IllegalTransition:
            assert incident == before
            continue
        assert isinstance(incident.status, Status)
        assert incident.status in reachable
        assert can_transition(before.status, incident.status), (before.status, action, incident.status)
        # on hold exactly when a hold reason is recorded
        assert (incident.status is Status.ON_HOLD) == (incident.hold_reason is not None)
        # acknowledged status implies someone took it
        if incident.status is Status.ACKNOWLEDGED:
            assert incident.acknowledged


@given(walks)
def test_once_closed_every_action_is_refused(walk) -> None:
    incident = Incident()
    for action, reason in walk:
        try:
            incident = apply(incident, action, reason)
        except IllegalTransition:
            continue
    for action in ("resolve", "close"):  # wherever the walk ended, close the incident
        try:
            incident = apply(incident, action, "")
        except IllegalTransition:
            continue
    assert incident.status is Status.CLOSED
    for action in ACTIONS:
        with pytest.raises(IllegalTransition):
            apply(incident, action, HoldReason.AWAITING_CUSTOMER.value)


@given(walks)
def test_hold_then_resume_returns_to_where_the_incident_was(walk) -> None:
    incident = Incident()
    for action, reason in walk:
        try:
            incident = apply(incident, action, reason)
        except IllegalTransition:
            continue
    assume(incident.status in (Status.OPEN, Status.ACKNOWLEDGED))
    held = apply(incident, "hold", HoldReason.AWAITING_VENDOR.value)
    assert apply(held, "resume", "").status is incident.status


# -- resume, reopen, CSAT, edits -------------------------------------------------------------


@given(st.none() | instants)
def test_status_after_resume(acknowledged_at: datetime | None) -> None:
    target = status_after_resume(acknowledged_at)
    assert target is (Status.OPEN if acknowledged_at is None else Status.ACKNOWLEDGED)
    assert can_transition(Status.ON_HOLD, target)
    assert is_open(target)


@given(instants, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)), st.integers(1, 30))
def test_reopen_is_allowed_exactly_within_the_window(
    resolved_at: datetime, elapsed: timedelta, days: int
) -> None:
    window = timedelta(days=days)
    now = resolved_at + elapsed
    if elapsed <= window:
        check_reopen(resolved_at, now, window)
    else:
        with pytest.raises(IllegalTransition) as caught:
            check_reopen(resolved_at, now, window)
        assert caught.value.extensions["reopen_window_seconds"] == window.total_seconds()


@given(instants, st.integers(1, 30))
def test_reopen_without_a_resolution_time_is_refused(now: datetime, days: int) -> None:
    with pytest.raises(IllegalTransition):
        check_reopen(None, now, timedelta(days=days))


@given(statuses, st.booleans())
def test_csat_only_once_and_only_after_resolution(status: Status, already_rated: bool) -> None:
    if status in (Status.RESOLVED, Status.CLOSED) and not already_rated:
        check_csat(status, already_rated)
    else:
        with pytest.raises(Conflict) as caught:
            check_csat(status, already_rated)
        assert caught.value.status == 409


@given(statuses)
def test_only_open_incidents_are_editable(status: Status) -> None:
    if is_open(status):
        check_editable(status)
    else:
        with pytest.raises(IllegalTransition):
            check_editable(status)


# -- priority --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MATRICES))
def test_matrix_is_monotonic_in_impact_and_urgency(name: str) -> None:
    matrix = MATRICES[name]

    @given(levels, levels, levels, levels)
    def check(impact_a: str, urgency_a: str, impact_b: str, urgency_b: str) -> None:
        assume(LEVEL_RANK[impact_a] <= LEVEL_RANK[impact_b])
        assume(LEVEL_RANK[urgency_a] <= LEVEL_RANK[urgency_b])
        assert PRIORITY_RANK[matrix[impact_a][urgency_a]] <= PRIORITY_RANK[matrix[impact_b][urgency_b]]

    check()


@pytest.mark.parametrize("name", list(MATRICES))
def test_matrix_covers_every_combination_with_a_known_priority(name: str) -> None:
    matrix = MATRICES[name]
    assert all(matrix[i][u] in PRIORITIES for i in LEVELS for u in LEVELS)
    assert matrix["high"]["high"] == "P1"
    assert matrix["low"]["low"] == "P4"


@given(levels, levels, priorities)
def test_decide_priority_explicit_wins_else_matrix(impact: str, urgency: str, explicit: str) -> None:
    matrix = DEFAULT_MATRIX.matrix
    assert decide_priority(matrix, impact=impact, urgency=urgency, explicit=explicit) == (
        decide_priority(matrix, impact=None, urgency=None, explicit=explicit)
    )
    decision = decide_priority(matrix, impact=impact, urgency=urgency, explicit=explicit)
    assert (decision.priority, decision.source) == (explicit, "explicit")
    derived = decide_priority(matrix, impact=impact, urgency=urgency, explicit=None)
    assert (derived.priority, derived.source) == (matrix[impact][urgency], "matrix")


@given(priorities, sources, maybe_levels, maybe_levels, priorities)
def test_reprioritise_explicit_always_wins(
    current: str, source: str, impact: str | None, urgency: str | None, explicit: str
) -> None:
    decision = reprioritise(
        DEFAULT_MATRIX.matrix,
        current_priority=current,
        current_source=source,
        impact=impact,
        urgency=urgency,
        explicit=explicit,
    )
    assert (decision.priority, decision.source) == (explicit, "explicit")


@given(priorities, levels, levels)
def test_reprioritise_matrix_sourced_priority_follows_impact_and_urgency(
    current: str, impact: str, urgency: str
) -> None:
    matrix = DEFAULT_MATRIX.matrix
    decision = reprioritise(
        matrix,
        current_priority=current,
        current_source="matrix",
        impact=impact,
        urgency=urgency,
        explicit=None,
    )
    assert (decision.priority, decision.source) == (matrix[impact][urgency], "matrix")


@given(priorities, maybe_levels, maybe_levels)
def test_reprioritise_keeps_an_explicit_priority_when_only_impact_or_urgency_change(
    current: str, impact: str | None, urgency: str | None
) -> None:
    decision = reprioritise(
        DEFAULT_MATRIX.matrix,
        current_priority=current,
        current_source="explicit",
        impact=impact,
        urgency=urgency,
        explicit=None,
    )
    assert (decision.priority, decision.source) == (current, "explicit")


@given(priorities, sources, maybe_levels, maybe_levels)
def test_reprioritise_without_both_levels_keeps_what_was_there(
    current: str, source: str, impact: str | None, urgency: str | None
) -> None:
    assume(impact is None or urgency is None)
    decision = reprioritise(
        DEFAULT_MATRIX.matrix,
        current_priority=current,
        current_source=source,
        impact=impact,
        urgency=urgency,
        explicit=None,
    )
    assert (decision.priority, decision.source) == (current, source)


@given(priorities, sources, maybe_levels, maybe_levels, maybe_priorities)
def test_reprioritise_always_gives_a_known_priority_and_source(
    current: str, source: str, impact: str | None, urgency: str | None, explicit: str | None
) -> None:
    decision = reprioritise(
        DEFAULT_MATRIX.matrix,
        current_priority=current,
        current_source=source,
        impact=impact,
        urgency=urgency,
        explicit=explicit,
    )
    assert decision.priority in PRIORITIES
    assert decision.source in ("matrix", "explicit")
    # reprioritising with the same inputs again is a fixed point
    again = reprioritise(
        DEFAULT_MATRIX.matrix,
        current_priority=decision.priority,
        current_source=decision.source,
        impact=impact,
        urgency=urgency,
        explicit=None,
    )
    assert again == decision
