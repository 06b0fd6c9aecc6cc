"""The poller's use case: announce warnings and breaches of running clocks whose moment has come.

Claims rows with FOR UPDATE SKIP LOCKED in batches ordered by ``fire_at``, so replicas
share the work, a crash releases its claim, and the cost follows what is due, not what is armed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import Select, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import on_commit
from tierline_shared.events import SlaBreached, SlaWarning
from tierline_sla_monitor import metrics
from tierline_sla_monitor.adapters import repository as repo
from tierline_sla_monitor.adapters.orm import ClockRow
from tierline_sla_monitor.domain.policy import ClockState
from tierline_sla_monitor.service_layer.clocks import SlaDeps, run_of, save_run


def due_clocks(now: datetime, limit: int) -> Select[tuple[ClockRow]]:
    """The claim: running clocks whose moment has come, oldest first, skipping those another poller holds."""
    return (
        select(ClockRow)
        # a literal, not a bound parameter: a cached generic plan must still match the partial index
        .where(ClockRow.state == literal_column("'running'"), ClockRow.fire_at <= now)
        .order_by(ClockRow.fire_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def fire_due_clocks(session: AsyncSession, deps: SlaDeps, *, limit: int) -> int:
    """Handle up to ``limit`` clocks whose warning or due time has passed; returns how many."""
    now = deps.clock.now()
    rows = list(await session.scalars(due_clocks(now, limit)))
    if not rows:
        return 0
    catalog = await repo.load_catalog(session)
    announcements: list[SlaBreached | SlaWarning] = []
    parents: list[str | None] = []  # each announcement continues the trace that started its clock
    for row in rows:
        parents.append(row.traceparent)
        calendar = catalog.calendar(row.calendar)
        run = run_of(row)
        assert row.due_at is not None and row.fire_at is not None
        delay, kind = (now - row.fire_at).total_seconds(), row.kind
        if row.due_at <= now:
            on_commit(
                session,
                lambda k=kind, d=delay: (metrics.outcome(k, "breached"), metrics.FIRE_DELAY.observe(d)),
            )
            row.state, row.stopped_at, row.fire_at = ClockState.BREACHED.value, now, None
            row.elapsed_seconds = run.elapsed_at(calendar, now).total_seconds()
            row.running_since = None
            announcements.append(
                SlaBreached(
                    incident_id=row.incident_id,
                    clock=row.kind,
                    tier=row.tier,
                    due_at=row.due_at,
                    breached_at=now,
                )
            )
            continue
        threshold = run.warnings[run.warned]
        on_commit(
            session, lambda k=kind, d=delay: (metrics.outcome(k, "warning"), metrics.FIRE_DELAY.observe(d))
        )
        save_run(row, replace(run, warned=run.warned + 1), calendar)
        announcements.append(
            SlaWarning(
                incident_id=row.incident_id,
                clock=row.kind,
                tier=row.tier,
                threshold=threshold,
                due_at=row.due_at,
                elapsed_seconds=run.elapsed_at(calendar, now).total_seconds(),
                remaining_seconds=run.remaining_at(calendar, now).total_seconds(),
                at=now,
            )
        )
    await deps.outbox.add_many(session, announcements, trace_parents=parents)
    return len(rows)
