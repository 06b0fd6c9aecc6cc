"""The poller's use case: announce warnings and breaches of running clocks whose moment has come.

Claims clocks with FOR UPDATE SKIP LOCKED in batches ordered by ``fire_at`` (one statement,
``ClockRepository.claim_due``), so replicas share the work, a crash releases its claim, and the
cost follows what is due, not what is armed. The batch's events are staged in one insert.
"""

from __future__ import annotations

from collections.abc import Callable

from tierline_shared.events import SlaBreached, SlaWarning
from tierline_sla_monitor import metrics
from tierline_sla_monitor.adapters.clocks import due_clocks  # the claim's SQL, for tests/bench/sla_timers.py
from tierline_sla_monitor.service_layer.deps import SlaDeps
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

__all__ = ["due_clocks", "fire_due_clocks"]


async def fire_due_clocks(uow: SlaUnitOfWork, deps: SlaDeps, *, limit: int) -> int:
    """Handle up to ``limit`` clocks whose warning or due time has passed; returns how many."""
    now = deps.clock.now()
    due = await uow.clocks.claim_due(now, limit)
    if not due:
        return 0
    catalog = await uow.catalog.load()
    announcements: list[SlaBreached | SlaWarning] = []
    parents: list[str | None] = []  # each announcement continues the trace that started its clock
    for clock in due:
        parents.append(clock.traceparent)
        delay, kind = (now - (clock.fire_at or now)).total_seconds(), clock.kind.value
        event = clock.fire(catalog.calendar(clock.calendar), now)
        uow.clocks.save(clock)
        outcome = "breached" if isinstance(event, SlaBreached) else "warning"
        uow.after_commit(_counted(kind, outcome, delay))
        announcements.append(event)
    await uow.announce_many(announcements, trace_parents=parents)
    return len(due)


def _counted(kind: str, outcome: str, delay: float) -> Callable[[], None]:
    """The metrics of one announcement, counted once its transaction commits."""

    def count() -> None:
        metrics.outcome(kind, outcome)
        metrics.FIRE_DELAY.observe(delay)

    return count
