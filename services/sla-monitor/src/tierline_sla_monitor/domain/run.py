"""One SLA clock's arithmetic: banked business time, pauses, the due time and the next warning.

A clock banks the business time it has run (``elapsed``) at every pause or change and
runs again from ``running_since``; everything else is derived through its calendar, so a
priority change, a pause or a new calendar only ever re-derives the future.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.policy import ClockState


@dataclass(frozen=True)
class Run:
    target: timedelta
    elapsed: timedelta  # business time banked before running_since (or before the pause)
    running_since: datetime | None  # None while paused
    warnings: tuple[float, ...] = ()
    warned: int = 0  # how many of ``warnings`` were announced

    @property
    def is_paused(self) -> bool:
        return self.running_since is None

    def elapsed_at(self, calendar: Calendar, at: datetime) -> timedelta:
        if self.running_since is None:
            return self.elapsed
        return self.elapsed + calendar.business_time(self.running_since, at)

    def remaining_at(self, calendar: Calendar, at: datetime) -> timedelta:
        return max(self.target - self.elapsed_at(calendar, at), timedelta(0))

    def _reaches(self, calendar: Calendar, mark: timedelta) -> datetime | None:
        """When the banked plus running time reaches ``mark`` (at once when it already has)."""
        if self.running_since is None:
            return None
        left = mark - self.elapsed
        return self.running_since if left <= timedelta(0) else calendar.add(self.running_since, left)

    def due_at(self, calendar: Calendar) -> datetime | None:
        return self._reaches(calendar, self.target)

    def next_warning_at(self, calendar: Calendar) -> datetime | None:
        if self.warned >= len(self.warnings):
            return None
        return self._reaches(calendar, self.target * self.warnings[self.warned])

    def fire_at(self, calendar: Calendar) -> datetime | None:
        """When the poller must next look at this clock: its next warning or its due time."""
        moments = [m for m in (self.next_warning_at(calendar), self.due_at(calendar)) if m is not None]
        return min(moments) if moments else None

    def pause(self, calendar: Calendar, at: datetime) -> Run:
        if self.running_since is None:
            return self
        return replace(self, elapsed=self.elapsed_at(calendar, at), running_since=None)

    def resume(self, at: datetime) -> Run:
        return self if self.running_since is not None else replace(self, running_since=at)

    def rebank(self, calendar: Calendar, at: datetime) -> Run:
        """Bank the time run so far, so the future can follow another target or calendar."""
        if self.running_since is None:
            return self
        return replace(self, elapsed=self.elapsed_at(calendar, at), running_since=at)

    def retarget(self, target: timedelta, warnings: tuple[float, ...]) -> Run:
        """A new target: warnings start over from the first not yet reached."""
        reached = sum(1 for w in warnings if self.elapsed >= target * w)
        return replace(self, target=target, warnings=warnings, warned=min(self.warned, reached))

    def outcome(self, calendar: Calendar, at: datetime, due: datetime | None) -> ClockState:
        """Met or breached when stopped at ``at``: running, by its due time; paused, by time spent."""
        if due is not None and self.running_since is not None:
            return ClockState.MET if at <= due else ClockState.BREACHED
        return ClockState.MET if self.elapsed <= self.target else ClockState.BREACHED
