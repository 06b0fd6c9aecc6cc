"""The SLA view's time left: derived from the due time and the moment of reading, frozen once it stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tierline_intake.domain.sla import ClockReading, ClockState

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DUE = T0 + timedelta(hours=4)


def _running(due_at: datetime = DUE) -> ClockReading:
    return ClockReading(state=ClockState.RUNNING, due_at=due_at, paused_left=None)


@pytest.mark.parametrize(
    ("now", "left"),
    [
        (T0, 14_400.0),
        (T0 + timedelta(hours=1, minutes=30), 9_000.0),
        (DUE - timedelta(microseconds=1), 0.000001),
        (DUE, 0.0),
        (DUE + timedelta(minutes=5), 0.0),  # past due, breach not yet announced: 0, not negative
    ],
)
def test_a_running_clock_counts_down_to_its_due_time(now: datetime, left: float) -> None:
    assert _running().remaining_seconds(now) == pytest.approx(left, abs=1e-9)


def test_the_figure_does_not_depend_on_the_offset_it_is_read_in() -> None:
    berlin = T0.astimezone(timezone(timedelta(hours=1)))
    assert _running(DUE.astimezone(timezone(timedelta(hours=-5)))).remaining_seconds(berlin) == 14_400.0


@pytest.mark.parametrize("now", [T0, DUE, DUE + timedelta(days=30)])
def test_a_paused_clock_keeps_the_time_its_pause_announced(now: datetime) -> None:
    paused = ClockReading(state=ClockState.PAUSED, due_at=None, paused_left=11_400.0)
    assert paused.remaining_seconds(now) == 11_400.0


def test_a_paused_clock_already_over_its_target_shows_0() -> None:
    paused = ClockReading(state=ClockState.PAUSED, due_at=None, paused_left=-30.0)
    assert paused.remaining_seconds(T0) == 0.0


@pytest.mark.parametrize("now", [T0, DUE + timedelta(days=1)])
def test_a_clock_met_while_running_keeps_what_was_left_when_it_stopped(now: datetime) -> None:
    met = ClockReading(state=ClockState.MET, due_at=DUE, paused_left=None, met_at=T0 + timedelta(hours=3))
    assert met.remaining_seconds(now) == 3_600.0


def test_a_clock_met_while_paused_keeps_the_paused_figure() -> None:
    met = ClockReading(state=ClockState.MET, due_at=None, paused_left=600.0, met_at=DUE + timedelta(days=2))
    assert met.remaining_seconds(T0) == 600.0


def test_a_breached_clock_has_0_left_whenever_it_is_read() -> None:
    breached = ClockReading(state=ClockState.BREACHED, due_at=DUE, paused_left=None)
    assert breached.remaining_seconds(T0) == 0.0
    assert breached.remaining_seconds(DUE + timedelta(hours=8)) == 0.0


@pytest.mark.parametrize("paused_left", [None, 1_200.0])
def test_a_cancelled_clock_counts_nothing_down(paused_left: float | None) -> None:
    cancelled = ClockReading(state=ClockState.CANCELLED, due_at=DUE, paused_left=paused_left)
    assert cancelled.remaining_seconds(T0) is None


def test_a_running_clock_ignores_a_stale_paused_figure() -> None:
    resumed = ClockReading(state=ClockState.RUNNING, due_at=DUE, paused_left=99.0)
    assert resumed.remaining_seconds(T0 + timedelta(hours=3)) == 3_600.0
