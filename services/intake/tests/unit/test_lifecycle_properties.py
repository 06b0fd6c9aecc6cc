"""Property-based tests of the incident state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tierline_intake.domain.lifecycle import (
    OPEN_STATUSES,
    IllegalTransition,
    Status,
    can_transition,
    check_reopen,
    check_transition,
    status_after_resume,
)

T0 = datetime(2026, 11, 23, tzinfo=UTC)


@given(st.lists(st.sampled_from(list(Status)), max_size=40))
def test_any_walk_only_takes_allowed_steps_and_closed_is_terminal(targets: list[Status]) -> None:
    current = Status.OPEN
    for target in targets:
        try:
            check_transition(current, target)
        except IllegalTransition as refused:
            assert not can_transition(current, target)
            assert refused.extensions["current_status"] == current.value
            continue
        assert can_transition(current, target)
        assert current is not Status.CLOSED, "closed must be terminal"
        current = target
    assert current in set(Status)


@given(st.sampled_from(list(Status)))
def test_nothing_returns_to_itself_and_closed_leads_nowhere(status: Status) -> None:
    assert not can_transition(status, status)
    assert not any(can_transition(Status.CLOSED, target) for target in Status)


@given(st.sampled_from(list(OPEN_STATUSES)))
def test_every_open_status_can_be_resolved_and_every_resolution_closed(status: Status) -> None:
    assert can_transition(status, Status.RESOLVED)
    assert can_transition(Status.RESOLVED, Status.CLOSED)


@given(st.booleans())
def test_resume_returns_to_where_the_incident_was(was_acknowledged: bool) -> None:
    after = status_after_resume(T0 if was_acknowledged else None)
    assert after is (Status.ACKNOWLEDGED if was_acknowledged else Status.OPEN)
    assert can_transition(Status.ON_HOLD, after)


@given(
    resolved_minutes_ago=st.integers(min_value=0, max_value=100_000),
    window_minutes=st.integers(min_value=1, max_value=50_000),
)
def test_reopen_is_allowed_exactly_within_the_window(resolved_minutes_ago: int, window_minutes: int) -> None:
    now = T0 + timedelta(days=100)
    resolved_at = now - timedelta(minutes=resolved_minutes_ago)
    window = timedelta(minutes=window_minutes)
    try:
        check_reopen(resolved_at, now, window)
        allowed = True
    except IllegalTransition:
        allowed = False
    assert allowed is (resolved_minutes_ago <= window_minutes)
