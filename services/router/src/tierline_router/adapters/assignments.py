"""Assignments stored and found: ``AssignmentRow`` <-> the ``Assignment`` aggregate."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.orm import AssignmentRow
from tierline_router.adapters.queries import (
    IS_ACTIVE,
    loads,
    open_by_tier_and_priority,
    open_in,
    queue_counts,
)
from tierline_router.domain.assignment import Assignment
from tierline_shared.db import Repository
from tierline_shared.errors import NotFound

FIELDS = tuple(f.name for f in dataclasses.fields(Assignment))


def _assignment_of(row: AssignmentRow) -> Assignment:
    values: dict[str, Any] = {name: getattr(row, name) for name in FIELDS}
    values["rejected_by"] = list(values["rejected_by"] or [])
    return Assignment(**values)


def _copy_to(row: AssignmentRow, assignment: Assignment) -> None:
    for name in FIELDS:
        value = getattr(assignment, name)
        if getattr(row, name) != value:
            setattr(row, name, list(value) if name == "rejected_by" else value)


class AssignmentRepository(Repository[AssignmentRow]):
    """One aggregate per incident in this transaction: a row read twice gives the same object.

    Changes reach the row on ``save``; before every query the tracked aggregates are written to
    their rows as well, so the database answers with what the transaction has decided so far.
    """

    model = AssignmentRow
    what = "incident"

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._seen: dict[uuid.UUID, tuple[Assignment, AssignmentRow]] = {}

    def save(self, assignment: Assignment) -> None:
        seen = self._seen.get(assignment.incident_id)
        if seen is None:
            row = AssignmentRow()
            for name in FIELDS:
                setattr(row, name, getattr(assignment, name))
            row.rejected_by = list(assignment.rejected_by)
            self.session.add(row)
            self._seen[assignment.incident_id] = (assignment, row)
        else:
            _copy_to(seen[1], assignment)

    def sync(self) -> None:
        """Write every tracked aggregate to its row (the ORM flushes them before its next query)."""
        for assignment, row in self._seen.values():
            _copy_to(row, assignment)

    async def restore(self) -> None:
        """After a savepoint rolled back: forget rows it created, re-read the ones it changed."""
        for incident_id, (assignment, row) in list(self._seen.items()):
            if not inspect(row).persistent:
                del self._seen[incident_id]
                continue
            await self.session.refresh(row)
            fresh = _assignment_of(row)
            for name in FIELDS:
                setattr(assignment, name, getattr(fresh, name))

    def _track(self, rows: Iterable[AssignmentRow]) -> list[Assignment]:
        found = []
        for row in rows:
            seen = self._seen.get(row.incident_id)
            if seen is None:
                seen = (_assignment_of(row), row)
                self._seen[row.incident_id] = seen
            found.append(seen[0])
        return found

    async def _all(self, stmt: Select[Any]) -> list[Assignment]:
        self.sync()
        return self._track((await self.session.scalars(stmt)).all())

    async def load(self, incident_id: uuid.UUID, *, lock: bool = False) -> Assignment | None:
        stmt = select(AssignmentRow).where(AssignmentRow.incident_id == incident_id)
        found = await self._all(stmt.with_for_update() if lock else stmt)
        return found[0] if found else None

    async def load_or_404(self, incident_id: uuid.UUID, *, lock: bool = False) -> Assignment:
        assignment = await self.load(incident_id, lock=lock)
        if assignment is None:
            raise NotFound(f"The router holds no incident {incident_id}.")
        return assignment

    async def held_by(self, agent: str, queue: str | None = None) -> list[Assignment]:
        stmt = select(AssignmentRow).where(IS_ACTIVE, AssignmentRow.assignee == agent)
        if queue is not None:
            stmt = stmt.where(AssignmentRow.queue == queue)
        return await self._all(stmt.order_by(AssignmentRow.created_at).with_for_update())

    async def waiting_in(self, queue: str) -> list[Assignment]:
        """Incidents waiting for an agent in ``queue``: most urgent first, then oldest."""
        return await self._all(
            select(AssignmentRow)
            .where(
                IS_ACTIVE,
                AssignmentRow.queue == queue,
                AssignmentRow.assignee.is_(None),
                AssignmentRow.waiting_since.is_not(None),
            )
            .order_by(AssignmentRow.priority, AssignmentRow.waiting_since, AssignmentRow.incident_id)
            .with_for_update()
        )

    async def ack_overdue(self, now: datetime, limit: int) -> list[Assignment]:
        return await self._all(
            select(AssignmentRow)
            .where(
                AssignmentRow.ack_due_at <= now,
                IS_ACTIVE,
                AssignmentRow.is_acknowledged.is_(False),
            )
            .order_by(AssignmentRow.ack_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )

    async def loads(self, agents: Sequence[str]) -> dict[str, int]:
        """Open incidents each agent holds, across every queue."""
        self.sync()
        return await loads(self.session, agents)

    async def open_in(self, queue: str) -> int:
        """Open incidents in ``queue``, held or waiting."""
        self.sync()
        return await open_in(self.session, queue)

    async def queue_counts(self) -> dict[str, tuple[int, int]]:
        """Per queue: (incidents held by an agent, incidents waiting for one)."""
        self.sync()
        return await queue_counts(self.session)

    async def open_by_tier_and_priority(self) -> dict[tuple[str, str], int]:
        """Open incidents per (tier, priority), vendor-held (L4) included."""
        self.sync()
        return await open_by_tier_and_priority(self.session)
