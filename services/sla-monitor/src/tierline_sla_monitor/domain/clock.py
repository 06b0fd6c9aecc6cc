"""One SLA clock: the aggregate that owns its transitions (``Clock``), on its arithmetic (``Run``).

Time is always passed in: nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from tierline_shared.errors import Conflict
from tierline_shared.events import (
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
    SlaRecalculated,
    SlaWarning,
)
from tierline_shared.events.sla import ClockKind as WireKind
from tierline_sla_monitor.domain.calendar import Calendar
from tierline_sla_monitor.domain.policy import ClockKind, ClockState, SlaPolicy
from tierline_sla_monitor.domain.run import Run

__all__ = ["Clock", "ClockError", "Run", "TierChange", "tier_change"]


TierChange = Literal["keep", "rearm", "replace"]


def tier_change(
    latest: Clock | None, tier: str, entered_at: datetime, budget: timedelta | None
) -> TierChange:
    """What a tier assignment does to the incident's latest tier clock.

    A re-assignment inside the same stay keeps the clock ("keep"), as does a stay whose budget
    already ran out or was met; a new budget for the same stay (the priority changed) re-arms it
    from the tier's entry ("rearm"); a new stay ends the last one and starts afresh ("replace").
    """
    if latest is None or not latest.is_stay(tier, entered_at):
        return "replace"
    if not latest.is_open:
        return "keep"  # this stay's budget already ran out (or was met): nothing left to re-arm
    if budget is not None and latest.run.target == budget:
        return "keep"  # a re-assignment: the same budget keeps running
    return "rearm"


class ClockError(Conflict):
    """A transition the clock's state does not allow (a programming or ordering error upstream)."""

    type_slug = "invalid-clock-transition"
    title = "The clock cannot change that way now"


@dataclass
class Clock:
    """One SLA clock of an incident: it starts, pauses, resumes, warns, breaches, stops or is cancelled.

    Every transition takes the clock's calendar and the moment it happens and returns the event
    to announce (if any); ``due_at`` and ``fire_at`` are kept derived from the run, except where a
    closed clock keeps the due time it had (reports and late stops compare against it).
    """

    id: uuid.UUID
    incident_id: uuid.UUID
    kind: ClockKind
    calendar: str
    state: ClockState
    started_at: datetime
    run: Run
    due_at: datetime | None
    fire_at: datetime | None
    tier: str | None = None
    priority: str | None = None
    service: str | None = None
    vendor: str | None = None
    policy: str | None = None
    stopped_at: datetime | None = None
    finished_seconds: float | None = None  # business time to the stop it measured (also after a breach)
    traceparent: str | None = None  # the trace its warnings and breach continue

    @classmethod
    def start(
        cls,
        *,
        id: uuid.UUID,
        incident_id: uuid.UUID,
        kind: ClockKind,
        started_at: datetime,
        target: timedelta,
        calendar: Calendar,
        warnings: Sequence[float] = (),
        tier: str | None = None,
        vendor: str | None = None,
        priority: str | None = None,
        service: str | None = None,
        policy: str | None = None,
        traceparent: str | None = None,
    ) -> tuple[Clock, SlaClockStarted]:
        run = Run(target=target, elapsed=timedelta(0), running_since=started_at, warnings=tuple(warnings))
        clock = cls(
            id=id,
            incident_id=incident_id,
            kind=kind,
            calendar=calendar.name,
            state=ClockState.RUNNING,
            started_at=started_at,
            run=run,
            due_at=None,
            fire_at=None,
            tier=tier,
            priority=priority,
            service=service,
            vendor=vendor,
            policy=policy,
            traceparent=traceparent,
        )
        due = clock._follow_running(run, calendar)
        started = SlaClockStarted(
            incident_id=incident_id, clock=clock._wire, tier=tier, due_at=due, started_at=started_at
        )
        return clock, started

    # --- what it is ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state in (ClockState.RUNNING, ClockState.PAUSED)

    @property
    def _wire(self) -> WireKind:
        return self.kind.value

    def is_stay(self, tier: str, entered_at: datetime) -> bool:
        """This tier clock measures the stay in ``tier`` that began at ``entered_at``."""
        return self.tier == tier and self.started_at == entered_at

    def elapsed_at(self, calendar: Calendar, at: datetime) -> timedelta:
        """Business time counted so far: running on while open, as banked once closed."""
        return self.run.elapsed_at(calendar, at) if self.is_open else self.run.elapsed

    # --- transitions --------------------------------------------------------------------------

    def pause(self, calendar: Calendar, reason: str, at: datetime) -> SlaClockPaused:
        """On hold: the business time so far is banked and the clock stops counting."""
        self._require(ClockState.RUNNING, "pause")
        run = self.run.pause(calendar, at)
        self._follow(run, calendar)
        self.state = ClockState.PAUSED
        return SlaClockPaused(
            incident_id=self.incident_id,
            clock=self._wire,
            reason=reason,
            elapsed_seconds=run.elapsed.total_seconds(),
            remaining_seconds=run.remaining_at(calendar, at).total_seconds(),
            at=at,
        )

    def resume(self, calendar: Calendar, at: datetime) -> SlaClockResumed:
        """Off hold: counts on from the banked time; the due time moves by the pause's length."""
        self._require(ClockState.PAUSED, "resume")
        due = self._follow_running(self.run.resume(at), calendar)
        self.state = ClockState.RUNNING
        return SlaClockResumed(incident_id=self.incident_id, clock=self._wire, due_at=due, at=at)

    def fire(self, calendar: Calendar, now: datetime) -> SlaBreached | SlaWarning:
        """The poller's look at a running clock whose moment came: breached if due, else warned."""
        if self.due_at is not None and self.due_at <= now:
            return self.breach(calendar, now)
        return self.warn(calendar, now)

    def breach(self, calendar: Calendar, now: datetime) -> SlaBreached:
        """The due time passed while running: closed as breached, with the time it had run."""
        self._require(ClockState.RUNNING, "breach")
        if self.due_at is None or self.due_at > now:
            raise ClockError(f"The {self.kind} clock is not due before {self.due_at}.")
        self.run = replace(self.run, elapsed=self.run.elapsed_at(calendar, now), running_since=None)
        self.state, self.stopped_at, self.fire_at = ClockState.BREACHED, now, None
        return SlaBreached(
            incident_id=self.incident_id,
            clock=self._wire,
            tier=self.tier,
            due_at=self.due_at,
            breached_at=now,
        )

    def warn(self, calendar: Calendar, now: datetime) -> SlaWarning:
        """The next warning threshold was reached: announce it and look again at the next one."""
        self._require(ClockState.RUNNING, "warn")
        run = self.run
        if run.warned >= len(run.warnings):
            raise ClockError(f"The {self.kind} clock has no warning left to announce.")
        due = self._follow_running(replace(run, warned=run.warned + 1), calendar)
        return SlaWarning(
            incident_id=self.incident_id,
            clock=self._wire,
            tier=self.tier,
            threshold=run.warnings[run.warned],
            last=run.warned + 1 == len(run.warnings),
            due_at=due,
            elapsed_seconds=run.elapsed_at(calendar, now).total_seconds(),
            remaining_seconds=run.remaining_at(calendar, now).total_seconds(),
            at=now,
        )

    def stop(self, calendar: Calendar, at: datetime) -> SlaMet | SlaBreached:
        """The work it measured ended: met by its due time (paused: by time spent), else breached."""
        if not self.is_open:
            raise ClockError(f"The {self.kind} clock is already {self.state}.")
        outcome = self.run.outcome(calendar, at, self.due_at)
        elapsed = self.run.elapsed_at(calendar, at)
        self.run = replace(self.run, elapsed=elapsed, running_since=None)
        self.finished_seconds = elapsed.total_seconds()
        self.state, self.stopped_at, self.fire_at = outcome, at, None
        due = self.due_at or at
        if outcome is ClockState.MET:
            return SlaMet(
                incident_id=self.incident_id,
                clock=self._wire,
                tier=self.tier,
                due_at=due,
                met_at=at,
                elapsed_seconds=self.finished_seconds,
            )
        # stopped after its due time, before the poller saw it: the breach still counts
        return SlaBreached(
            incident_id=self.incident_id, clock=self._wire, tier=self.tier, due_at=due, breached_at=at
        )

    def cancel(self, at: datetime) -> None:
        """No longer measured (replaced, or the vendor no longer holds the case): no outcome."""
        if not self.is_open:
            raise ClockError(f"The {self.kind} clock is already {self.state}.")
        self.state, self.stopped_at, self.fire_at = ClockState.CANCELLED, at, None

    def recalculate(
        self,
        *,
        old_calendar: Calendar,
        policy: SlaPolicy,
        calendar: Calendar,
        priority: str,
        service: str,
        paused: bool,
        at: datetime,
    ) -> SlaRecalculated | None:
        """A new priority (or service) and so ``policy``: the time already spent counts against its target.

        The resolution clock follows the new policy's pauses (``paused``: on hold for a reason it
        pauses on). Announced only when the due time moved.
        """
        if not self.is_open:
            raise ClockError(f"The {self.kind} clock is already {self.state}.")
        old_due = self.due_at
        run = self.run.rebank(old_calendar, at).retarget(policy.target(self.kind), tuple(policy.warnings))
        if self.kind is ClockKind.RESOLUTION:  # the new policy decides whether the hold pauses it
            run = run.pause(calendar, at) if paused else run.resume(at)
            self.state = ClockState.PAUSED if run.is_paused else ClockState.RUNNING
        self.priority, self.service, self.policy, self.calendar = (
            priority,
            service,
            policy.name,
            calendar.name,
        )
        due = self._follow(run, calendar)
        if due == old_due or due is None or old_due is None:
            return None
        return SlaRecalculated(
            incident_id=self.incident_id,
            clock=self._wire,
            tier=self.tier,
            old_due_at=old_due,
            due_at=due,
            reason=f"priority {priority}, policy {policy.name}",
            at=at,
        )

    def correct_early_breach(self, calendar: Calendar, at: datetime) -> SlaMet:
        """The stop at ``at`` was in time but arrived after the poller breached it (consumer lag): met."""
        if self.state is not ClockState.BREACHED or self.due_at is None or self.due_at < at:
            raise ClockError(f"The {self.kind} clock was not breached after {at}.")
        breached_at = self.stopped_at or at
        # the poller banked time up to the breach; the work ended earlier, at ``at``
        spent = max(self.run.elapsed - calendar.business_time(at, breached_at), timedelta(0))
        self.run = replace(self.run, elapsed=spent)
        self.state, self.stopped_at, self.finished_seconds = ClockState.MET, at, spent.total_seconds()
        return SlaMet(
            incident_id=self.incident_id,
            clock=self._wire,
            tier=self.tier,
            due_at=self.due_at,
            met_at=at,
            elapsed_seconds=self.finished_seconds,
        )

    def record_finish(self, calendar: Calendar, at: datetime) -> None:
        """A breached clock's work finally ended at ``at``: keep how long it really took (for reports)."""
        if self.state is not ClockState.BREACHED:
            raise ClockError(f"The {self.kind} clock is {self.state}, not breached.")
        breached_at = self.stopped_at or at
        # the stop may come after the breach, or before it when the poller ran late
        later = calendar.business_time(breached_at, at) - calendar.business_time(at, breached_at)
        self.finished_seconds = max(self.run.elapsed.total_seconds() + later.total_seconds(), 0.0)

    # --- internals ----------------------------------------------------------------------------

    def _follow(self, run: Run, calendar: Calendar) -> datetime | None:
        """Take ``run`` and re-derive the due time and next look from it; the due time (None if paused)."""
        self.run = run
        self.due_at, self.fire_at = run.due_at(calendar), run.fire_at(calendar)
        return self.due_at

    def _follow_running(self, run: Run, calendar: Calendar) -> datetime:
        due = self._follow(run, calendar)
        if due is None:
            raise ClockError(f"The {self.kind} clock is not running.")
        return due

    def _require(self, state: ClockState, what: str) -> None:
        if self.state is not state:
            raise ClockError(f"Cannot {what} the {self.kind} clock: it is {self.state}, not {state}.")
