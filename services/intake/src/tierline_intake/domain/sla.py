"""How much time an SLA clock has left, as a console counts it down: derived when read, never stored.

The SLA monitor announces due times and, for a pause, the business time left; between its
events a running clock's figure only changes with the time of reading, so it is computed then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from tierline_intake.domain.lifecycle import Status
from tierline_shared import events


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({ClockState.RUNNING, ClockState.PAUSED})


@dataclass(frozen=True)
class ClockReading:
    """What intake knows of one clock: its state, due time and the time left frozen at a pause."""

    state: ClockState
    due_at: datetime | None  # None while paused, and for a clock that stopped while paused
    paused_left: float | None  # business seconds left when it paused (the SLA monitor's figure)
    met_at: datetime | None = None

    def remaining_seconds(self, now: datetime) -> float | None:
        """Seconds left before the breach, never below 0 (as the SLA monitor reports them).

        Running: until ``due_at`` from ``now``. Paused, or met while paused: the figure the pause
        announced. Met while running: what was left at ``met_at``. Breached: 0. Cancelled: None,
        nothing counts down any more.
        """
        if self.state in (ClockState.PAUSED, ClockState.MET) and self.paused_left is not None:
            return max(self.paused_left, 0.0)
        if self.state is ClockState.RUNNING and self.due_at is not None:
            return _left(self.due_at, now)
        if self.state is ClockState.MET and self.due_at is not None and self.met_at is not None:
            return _left(self.due_at, self.met_at)
        if self.state is ClockState.BREACHED:
            return 0.0
        return None


def _left(due_at: datetime, at: datetime) -> float:
    return max((due_at - at).total_seconds(), 0.0)


# -- the view intake keeps of each clock, following what the SLA monitor reports ----------------

ClockEvent = (
    events.SlaBreached
    | events.SlaMet
    | events.SlaRecalculated
    | events.SlaWarning
    | events.SlaClockPaused
    | events.SlaClockResumed
)


def started_view(event: events.SlaClockStarted, *, incident_status: Status) -> dict[str, Any]:
    """The view of a (re)started clock, replacing the last of its kind.

    A tier clock announced after the incident closed here will never be stopped: shown cancelled.
    """
    closed = event.clock == "tier" and incident_status in (Status.RESOLVED, Status.CLOSED)
    return {
        "tier": event.tier,
        "state": "cancelled" if closed else "running",
        "due_at": event.due_at,
        "breached_at": None,
        "met_at": None,
        "remaining_seconds": None,
        "warning_threshold": None,
        "last_warning": False,
    }


def view_changes(event: ClockEvent, *, state: str, tier: str | None) -> dict[str, Any]:
    """What ``event`` changes in the view of its clock, now in ``state`` for ``tier``.

    Empty when it changes nothing: the view is of a newer tier clock, or (a warning, pause or
    resume) the clock has stopped. Pause and resume name no tier: they apply to the clock's.
    """
    is_open = state in OPEN_STATES
    if isinstance(event, events.SlaClockPaused):  # no due time until it resumes, only the time left
        return (
            {"state": "paused", "due_at": None, "remaining_seconds": event.remaining_seconds}
            if is_open
            else {}
        )
    if isinstance(event, events.SlaClockResumed):
        return {"state": "running", "due_at": event.due_at, "remaining_seconds": None} if is_open else {}
    if event.clock == "tier" and tier != event.tier:
        return {}  # a newer tier clock replaced it
    if isinstance(event, events.SlaBreached):
        return {"state": "breached", "breached_at": event.breached_at, "remaining_seconds": None}
    if isinstance(event, events.SlaMet):
        # A paused clock keeps the time it had left; a met after a breach withdraws the breach
        # (the stop was in time but reached the SLA monitor after its poller fired).
        return {"state": "met", "met_at": event.met_at, "breached_at": None}
    if isinstance(event, events.SlaRecalculated):
        return {"due_at": event.due_at}
    # a warning: most of the target is used up; the view keeps the latest threshold crossed, and
    # whether it was the policy's last before the breach
    return {"warning_threshold": event.threshold, "last_warning": event.last} if is_open else {}


# -- the board's summary: the one clock an incident's row counts down ---------------------------

BOARD_CLOCKS = ("response", "resolution")


class ClockRow(Protocol):
    """A clock's view as the board reads it (intake's ``incident_sla`` row)."""

    @property
    def clock(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def due_at(self) -> datetime | None: ...
    @property
    def remaining_seconds(self) -> float | None: ...
    @property
    def warning_threshold(self) -> float | None: ...
    @property
    def last_warning(self) -> bool: ...
    @property
    def met_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class ClockSummary:
    """The nearest response or resolution clock of an incident, as a board shows it."""

    clock: str
    due_at: datetime | None
    remaining_seconds: float | None
    warning_threshold: float | None
    last_warning: bool
    breached: bool
    paused: bool


def nearest_clock(
    clocks: Iterable[ClockRow], *, acknowledged: bool, resolved: bool, now: datetime
) -> ClockSummary | None:
    """The response or resolution clock whose breach is (or was) nearest, or None (always None
    once the incident is resolved or closed).

    Running and paused clocks count; a breached one too while the work it measured is still
    undone (the response until acknowledged, the resolution until resolved), so a breach shows
    before a later due time. Nearest: the earliest due time, a paused clock's as if it resumed
    ``now``; the response first on a tie.
    """
    if resolved:  # nothing left to count down, whatever the SLA monitor has still to say
        return None
    candidates: list[tuple[datetime, int, ClockRow]] = []
    for row in clocks:
        if row.clock not in BOARD_CLOCKS or not _counts(row, acknowledged=acknowledged):
            continue
        due = row.due_at
        if row.state == ClockState.PAUSED and row.remaining_seconds is not None:
            due = now + timedelta(seconds=row.remaining_seconds)
        if due is not None:
            candidates.append((due, BOARD_CLOCKS.index(row.clock), row))
    if not candidates:
        return None
    row = min(candidates, key=lambda candidate: candidate[:2])[2]
    reading = ClockReading(
        state=ClockState(row.state), due_at=row.due_at, paused_left=row.remaining_seconds, met_at=row.met_at
    )
    return ClockSummary(
        clock=row.clock,
        due_at=row.due_at,
        remaining_seconds=reading.remaining_seconds(now),
        warning_threshold=row.warning_threshold,
        last_warning=row.last_warning,
        breached=row.state == ClockState.BREACHED,
        paused=row.state == ClockState.PAUSED,
    )


def _counts(row: ClockRow, *, acknowledged: bool) -> bool:
    if row.state in OPEN_STATES:
        return True
    return row.state == ClockState.BREACHED and (row.clock == "resolution" or not acknowledged)
