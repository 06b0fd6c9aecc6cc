"""Which SLA clock a board's row counts down: the nearest response or resolution clock (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tierline_intake.domain.sla import ClockSummary, nearest_clock

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Row:
    clock: str
    state: str
    due_at: datetime | None = None
    remaining_seconds: float | None = None
    warning_threshold: float | None = None
    last_warning: bool = False
    met_at: datetime | None = None


def _nearest(*rows: Row, acknowledged: bool = False, resolved: bool = False) -> ClockSummary | None:
    return nearest_clock(rows, acknowledged=acknowledged, resolved=resolved, now=NOW)


def test_the_earliest_due_running_clock_is_shown_with_its_warning() -> None:
    summary = _nearest(
        Row("resolution", "running", NOW + timedelta(hours=4)),
        Row("response", "running", NOW + timedelta(minutes=2), warning_threshold=0.9, last_warning=True),
        Row("tier", "running", NOW + timedelta(minutes=1)),  # not a board clock
    )
    assert summary == ClockSummary(
        clock="response",
        due_at=NOW + timedelta(minutes=2),
        remaining_seconds=120.0,
        warning_threshold=0.9,
        last_warning=True,
        breached=False,
        paused=False,
    )


def test_a_paused_clock_is_as_near_as_the_time_it_has_left() -> None:
    paused = Row("resolution", "paused", remaining_seconds=600)
    running = Row("response", "running", NOW + timedelta(minutes=15))
    summary = _nearest(paused, running)
    assert summary is not None
    assert (summary.clock, summary.due_at, summary.remaining_seconds, summary.paused) == (
        "resolution",
        None,
        600.0,
        True,
    )
    later = Row("resolution", "paused", remaining_seconds=1_000)
    assert _nearest(later, running).clock == "response"  # type: ignore[union-attr]


def test_a_breach_shows_while_its_work_is_undone() -> None:
    breached = Row("response", "breached", NOW - timedelta(minutes=5))
    running = Row("resolution", "running", NOW + timedelta(hours=1))
    shown = _nearest(breached, running)
    assert shown is not None and (shown.clock, shown.breached, shown.remaining_seconds) == (
        "response",
        True,
        0.0,
    )
    # acknowledged: the response is history, the resolution counts down
    assert _nearest(breached, running, acknowledged=True).clock == "resolution"  # type: ignore[union-attr]
    late = Row("resolution", "breached", NOW - timedelta(minutes=1))
    assert _nearest(late, acknowledged=True).breached  # type: ignore[union-attr]


def test_nothing_is_shown_without_a_counting_clock_or_once_resolved() -> None:
    assert _nearest() is None
    assert _nearest(Row("response", "met", NOW), Row("resolution", "cancelled", NOW)) is None
    assert _nearest(Row("resolution", "running", NOW + timedelta(hours=1)), resolved=True) is None


def test_a_tie_shows_the_response_clock() -> None:
    due = NOW + timedelta(minutes=30)
    assert _nearest(Row("resolution", "running", due), Row("response", "running", due)).clock == "response"  # type: ignore[union-attr]
