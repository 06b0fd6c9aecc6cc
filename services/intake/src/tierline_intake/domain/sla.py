"""How much time an SLA clock has left, as a console counts it down: derived when read, never stored.

The SLA monitor announces due times and, for a pause, the business time left; between its
events a running clock's figure only changes with the time of reading, so it is computed then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
