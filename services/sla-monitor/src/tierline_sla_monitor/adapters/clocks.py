"""Clocks in PostgreSQL: rows mapped to ``Clock`` aggregates and back, and the poller's claim.

The repository remembers the row behind each clock it handed out, so ``save`` only copies the
aggregate's state onto it: the ORM flushes what changed, in one batch per shape at commit, as
it did when the service layer wrote the rows itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import Repository
from tierline_sla_monitor.adapters.orm import ClockRow
from tierline_sla_monitor.domain.clock import Clock, Run
from tierline_sla_monitor.domain.policy import OPEN_STATES, ClockKind, ClockState


def run_of(row: ClockRow) -> Run:
    return Run(
        target=timedelta(seconds=row.target_seconds),
        elapsed=timedelta(seconds=row.elapsed_seconds),
        running_since=row.running_since,
        warnings=tuple(row.warnings),
        warned=row.warned,
    )


def clock_of(row: ClockRow) -> Clock:
    return Clock(
        id=row.id,
        incident_id=row.incident_id,
        kind=ClockKind(row.kind),
        calendar=row.calendar,
        state=ClockState(row.state),
        started_at=row.started_at,
        run=run_of(row),
        due_at=row.due_at,
        fire_at=row.fire_at,
        tier=row.tier,
        priority=row.priority,
        service=row.service,
        vendor=row.vendor,
        policy=row.policy,
        stopped_at=row.stopped_at,
        finished_seconds=row.finished_seconds,
        traceparent=row.traceparent,
    )


def apply_to(row: ClockRow, clock: Clock) -> None:
    """Copy the aggregate's changeable state onto its row (unchanged values are not written)."""
    run = clock.run
    row.target_seconds = run.target.total_seconds()
    row.elapsed_seconds = run.elapsed.total_seconds()
    row.running_since = run.running_since
    if list(run.warnings) != row.warnings:
        row.warnings = list(run.warnings)
    row.warned = run.warned
    row.state = clock.state.value
    row.due_at, row.fire_at, row.stopped_at = clock.due_at, clock.fire_at, clock.stopped_at
    row.finished_seconds = clock.finished_seconds
    row.priority, row.service, row.policy, row.calendar = (
        clock.priority,
        clock.service,
        clock.policy,
        clock.calendar,
    )


def new_row(clock: Clock) -> ClockRow:
    row = ClockRow(
        id=clock.id,
        incident_id=clock.incident_id,
        kind=clock.kind.value,
        tier=clock.tier,
        vendor=clock.vendor,
        started_at=clock.started_at,
        traceparent=clock.traceparent,
    )
    apply_to(row, clock)
    return row


def due_clocks(now: datetime, limit: int) -> Select[ClockRow]:
    """The claim: running clocks whose moment has come, oldest first, skipping those another poller holds."""
    return (
        select(ClockRow)
        # a literal, not a bound parameter: a cached generic plan must still match the partial index
        .where(ClockRow.state == literal_column("'running'"), ClockRow.fire_at <= now)
        .order_by(ClockRow.fire_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


class ClockRepository(Repository[ClockRow]):
    model = ClockRow
    what = "clock"

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._rows: dict[uuid.UUID, ClockRow] = {}

    def _clocks(self, rows: Iterable[ClockRow]) -> list[Clock]:
        out = []
        for row in rows:
            self._rows[row.id] = row
            out.append(clock_of(row))
        return out

    def save(self, clock: Clock) -> None:
        """Write a clock back (a new one is added)."""
        row = self._rows.get(clock.id)
        if row is None:
            row = self._rows[clock.id] = new_row(clock)
            self.session.add(row)
        else:
            apply_to(row, clock)

    async def claim_due(self, now: datetime, limit: int) -> list[Clock]:
        """Up to ``limit`` running clocks whose warning or due time has come, locked (one statement)."""
        return self._clocks(await self.session.scalars(due_clocks(now, limit)))

    async def open_of(self, incident_id: uuid.UUID, kinds: Sequence[str]) -> list[Clock]:
        """The incident's running or paused clocks of these kinds, locked."""
        return self._clocks(
            await self.session.scalars(
                select(ClockRow)
                .where(
                    ClockRow.incident_id == incident_id,
                    ClockRow.kind.in_(kinds),
                    ClockRow.state.in_(OPEN_STATES),
                )
                .with_for_update()
            )
        )

    async def latest_tier_clock(self, incident_id: uuid.UUID) -> Clock | None:
        """The incident's most recent tier clock (open or not), locked."""
        row = await self.session.scalar(
            select(ClockRow)
            .where(ClockRow.incident_id == incident_id, ClockRow.kind == ClockKind.TIER.value)
            .order_by(ClockRow.started_at.desc(), ClockRow.target_seconds.desc())
            .limit(1)
            .with_for_update()
        )
        return None if row is None else self._clocks([row])[0]

    async def breached_of(
        self,
        incident_id: uuid.UUID,
        kinds: Sequence[str],
        *,
        vendor: str | None = None,
        due_not_before: datetime | None = None,
        unfinished: bool = False,
    ) -> list[Clock]:
        """Breached clocks of these kinds (and vendor), due at or after a moment or unfinished, locked."""
        where: list[ColumnElement[bool]] = [
            ClockRow.incident_id == incident_id,
            ClockRow.kind.in_(kinds),
            ClockRow.state == ClockState.BREACHED.value,
        ]
        if due_not_before is not None:
            where.append(ClockRow.due_at >= due_not_before)
        if unfinished:
            where.append(ClockRow.finished_seconds.is_(None))
        if vendor is not None:
            where.append(ClockRow.vendor == vendor)
        return self._clocks(await self.session.scalars(select(ClockRow).where(*where).with_for_update()))

    async def of_incident(self, incident_id: uuid.UUID) -> list[Clock]:
        """Every clock of the incident, in the order they started (a read: not locked)."""
        return self._clocks(
            await self.session.scalars(
                select(ClockRow)
                .where(ClockRow.incident_id == incident_id)
                .order_by(ClockRow.started_at, ClockRow.kind)
            )
        )
