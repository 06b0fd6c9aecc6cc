"""Intake's repositories: incidents as aggregates, and the rows of its timeline, SLA view and problems.

Each reads and writes in the caller's transaction and never commits (the edge does).
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from tierline_intake.adapters.filters import IncidentFilter, ProblemFilter
from tierline_intake.adapters.orm import IncidentRow, ProblemRow, SlaClockView, TimelineEntry
from tierline_intake.domain.incident import Incident
from tierline_intake.domain.lifecycle import OPEN_STATUSES, Status
from tierline_intake.domain.sla import BOARD_CLOCKS
from tierline_shared import pagination as pages
from tierline_shared.db import Repository
from tierline_shared.errors import NotFound

_FIELDS = tuple(f.name for f in fields(Incident))
# the partial unique index uq_incidents_open_dedup_key: at most one open incident per dedup key
_OPEN_DEDUP = text("dedup_key IS NOT NULL AND status IN ('open', 'acknowledged', 'on_hold')")
_CHUNK = 500  # rows per multi-row INSERT (asyncpg takes at most 32,767 parameters a statement)
# Core statements built once: the values travel as parameters, so SQLAlchemy compiles each once
_INSERT_INCIDENT = insert(IncidentRow.metadata.tables["incidents"])
_INSERT_NEW_INCIDENTS = _INSERT_INCIDENT.on_conflict_do_nothing(
    index_elements=["dedup_key"], index_where=_OPEN_DEDUP
).returning(_INSERT_INCIDENT.table.c.id)
_INSERT_LINES = insert(TimelineEntry.metadata.tables["timeline"])
HANDOVER_KINDS = ("assigned", "escalated", "de_escalated")  # the lines that change who holds an incident


def _incident(row: IncidentRow) -> Incident:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["status"] = Status(row.status)
    values["knowledge"] = list(row.knowledge or [])
    values["details"] = dict(row.details or {})
    return Incident(**values)


def _values(incident: Incident) -> dict[str, Any]:
    values = {name: getattr(incident, name) for name in _FIELDS}
    values["status"] = incident.status.value
    return values


def _write(incident: Incident, row: IncidentRow) -> None:
    """Copy the aggregate onto its row, touching only what changed (so the UPDATE names only that)."""
    for name in _FIELDS:
        value = getattr(incident, name)
        if name == "status":
            value = value.value
        if getattr(row, name) != value:
            setattr(row, name, value)


class IncidentRepository(Repository[IncidentRow]):
    """Incidents, loaded as :class:`Incident` aggregates and saved back onto their rows."""

    model = IncidentRow
    what = "incident"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows: dict[uuid.UUID, IncidentRow] = {}
        self.inserted: set[uuid.UUID] = set()  # incidents this transaction created

    def _track(self, row: IncidentRow) -> Incident:
        self._rows[row.id] = row
        return _incident(row)

    async def load(self, incident_id: uuid.UUID, *, lock: bool = False) -> Incident:
        """The incident (locked for this transaction if ``lock``); NotFound (404) otherwise."""
        stmt = select(IncidentRow).where(IncidentRow.id == incident_id)
        if lock:
            stmt = stmt.with_for_update()
        row = await self.session.scalar(stmt)
        if row is None:
            raise NotFound(f"No incident with id {incident_id}.")
        return self._track(row)

    async def open_with_dedup_key(self, dedup_key: str) -> Incident | None:
        """The open incident holding ``dedup_key``, locked, or None."""
        return (await self.open_with_dedup_keys([dedup_key])).get(dedup_key)

    async def open_with_dedup_keys(self, dedup_keys: list[str]) -> dict[str, Incident]:
        """The open incidents holding these dedup keys, locked, by key (one SELECT for them all)."""
        if not dedup_keys:
            return {}
        rows = await self.session.scalars(
            select(IncidentRow)
            .where(
                IncidentRow.dedup_key.in_(dedup_keys),
                IncidentRow.status.in_([s.value for s in OPEN_STATUSES]),
            )
            .with_for_update()
        )
        return {row.dedup_key: self._track(row) for row in rows if row.dedup_key is not None}

    async def add_unless_taken(self, incident: Incident) -> Incident | None:
        """Insert a new incident; None if stored, else the open twin that won its dedup key.

        A concurrent twin with the same dedup key loses cleanly (ON CONFLICT on the open-dedup
        index); without a dedup key, or if no open twin is found, the error stands.
        """
        if not incident.dedup_key:
            await self.session.execute(_INSERT_INCIDENT, _values(incident))
            self.inserted.add(incident.id)
            return None
        if await self.add_new([incident]):
            return None
        existing = await self.open_with_dedup_key(incident.dedup_key)
        if existing is None:  # the twin resolved meanwhile: insert again, and let any error stand
            await self.session.execute(_INSERT_INCIDENT, _values(incident))
            self.inserted.add(incident.id)
            return None
        return existing

    async def add_new(self, incidents: list[Incident]) -> set[uuid.UUID]:
        """Insert new incidents in as few statements as rows allow; the ids stored (not those
        whose dedup key an open incident of a concurrent transaction took meanwhile)."""
        stored: set[uuid.UUID] = set()
        for start in range(0, len(incidents), _CHUNK):
            chunk = [_values(incident) for incident in incidents[start : start + _CHUNK]]
            stored.update(await self.session.scalars(_INSERT_NEW_INCIDENTS, chunk))
        self.inserted |= stored
        return stored

    def save(self, incident: Incident) -> None:
        """Write a loaded incident's changes (flushed with the transaction)."""
        _write(incident, self._rows[incident.id])

    async def load_many(self, incident_ids: list[uuid.UUID]) -> list[Incident]:
        """Those of the incidents that exist, locked."""
        rows = await self.session.scalars(
            select(IncidentRow).where(IncidentRow.id.in_(incident_ids)).with_for_update()
        )
        return [self._track(row) for row in rows]

    async def page(
        self, flt: IncidentFilter, *, limit: int, cursor: str | None
    ) -> tuple[list[IncidentRow], str | None]:
        """A page of incident rows (the list's read model), newest first, and the next page's cursor."""
        conditions: list[ColumnElement[bool]] = []
        if flt.status:
            conditions.append(IncidentRow.status.in_(flt.status))
        if flt.priority:
            conditions.append(IncidentRow.priority.in_(flt.priority))
        if flt.tier:
            conditions.append(IncidentRow.tier.in_(flt.tier))
        if flt.type:
            conditions.append(IncidentRow.type.in_(flt.type))
        if flt.queue:
            conditions.append(IncidentRow.queue.in_(flt.queue))
        for column, value in (
            (IncidentRow.assignee, flt.assignee),
            (IncidentRow.service, flt.service),
            (IncidentRow.category, flt.category),
            (IncidentRow.product, flt.product),
            (IncidentRow.customer, flt.customer),
            (IncidentRow.channel, flt.channel),
            (IncidentRow.problem_id, flt.problem_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if flt.created_since:
            conditions.append(IncidentRow.created_at >= flt.created_since)
        if flt.created_until:
            conditions.append(IncidentRow.created_at < flt.created_until)
        return await pages.newest_first(
            self.session, select(IncidentRow).where(*conditions), IncidentRow, limit=limit, cursor=cursor
        )

    async def linked_to(self, problem_id: uuid.UUID) -> list[uuid.UUID]:
        """The problem's incidents, oldest first."""
        return list(
            await self.session.scalars(
                select(IncidentRow.id)
                .where(IncidentRow.problem_id == problem_id)
                .order_by(IncidentRow.created_at, IncidentRow.id)
            )
        )

    async def count_by_problem(self, problem_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many incidents each of these problems links (absent: none)."""
        if not problem_ids:
            return {}
        rows = await self.session.execute(
            select(IncidentRow.problem_id, func.count())
            .where(IncidentRow.problem_id.in_(problem_ids))
            .group_by(IncidentRow.problem_id)
        )
        return {problem_id: count for problem_id, count in rows if problem_id is not None}


class TimelineRepository(Repository[TimelineEntry]):
    model = TimelineEntry
    what = "timeline entry"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: dict[uuid.UUID, list[TimelineEntry]] = {}  # lines this transaction wrote

    def record(
        self,
        incident_id: uuid.UUID,
        *,
        at: datetime,
        kind: str,
        summary: str,
        source: str,
        event_id: uuid.UUID | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        entry = TimelineEntry(
            incident_id=incident_id,
            at=at,
            kind=kind,
            summary=summary,
            source=source,
            event_id=event_id,
            data=data or {},
        )
        self.add(entry)
        self.recorded.setdefault(incident_id, []).append(entry)

    async def record_many(self, lines: list[dict[str, Any]]) -> None:
        """Write many lines now, in order, in as few INSERTs as rows allow (keys as :meth:`record`'s)."""
        for start in range(0, len(lines), _CHUNK):
            chunk = [{**line, "data": line.get("data") or {}} for line in lines[start : start + _CHUNK]]
            await self.session.execute(_INSERT_LINES, chunk)
            for line in chunk:
                self.recorded.setdefault(line["incident_id"], []).append(TimelineEntry(**line))

    async def last_moved(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
        """When each of these incidents last changed hands (assigned, escalated or de-escalated);
        absent: never routed. One query for them all."""
        if not incident_ids:
            return {}
        rows = await self.session.execute(
            select(TimelineEntry.incident_id, func.max(TimelineEntry.at))
            .where(TimelineEntry.incident_id.in_(incident_ids), TimelineEntry.kind.in_(HANDOVER_KINDS))
            .group_by(TimelineEntry.incident_id)
        )
        return {incident_id: at for incident_id, at in rows}

    async def of(self, incident_id: uuid.UUID) -> list[TimelineEntry]:
        """The incident's timeline, in order."""
        return await self.find(
            TimelineEntry.incident_id == incident_id, order_by=(TimelineEntry.at, TimelineEntry.seq)
        )


class SlaViewRepository(Repository[SlaClockView]):
    """What the SLA monitor told us about each clock of an incident (one row per clock kind)."""

    model = SlaClockView
    what = "SLA clock"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written = False  # whether this transaction wrote any clock's view

    async def of(self, incident_id: uuid.UUID) -> list[SlaClockView]:
        return await self.find(SlaClockView.incident_id == incident_id)

    async def on_board(self, incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[SlaClockView]]:
        """The response and resolution clocks a board may count down (running, paused or breached)
        of these incidents, by incident: one query for them all."""
        found: dict[uuid.UUID, list[SlaClockView]] = {}
        if not incident_ids:
            return found
        views = await self.find(
            SlaClockView.incident_id.in_(incident_ids),
            SlaClockView.clock.in_(BOARD_CLOCKS),
            SlaClockView.state.in_(("running", "paused", "breached")),
        )
        for view in views:
            found.setdefault(view.incident_id, []).append(view)
        return found

    async def clock(self, incident_id: uuid.UUID, clock: str) -> SlaClockView | None:
        """The clock's view, whatever its tier."""
        view: SlaClockView | None = await self.session.scalar(
            select(SlaClockView).where(SlaClockView.incident_id == incident_id, SlaClockView.clock == clock)
        )
        return view

    def change(self, view: SlaClockView, values: dict[str, Any]) -> None:
        """Write what an SLA event changed into the clock's view (flushed with the transaction)."""
        self.written = True
        for name, value in values.items():
            setattr(view, name, value)

    async def started(self, incident_id: uuid.UUID, clock: str, values: dict[str, Any]) -> None:
        """A (re)started clock replaces the view of the last one of its kind."""
        self.written = True
        await self.session.execute(
            insert(SlaClockView)
            .values(incident_id=incident_id, clock=clock, **values)
            .on_conflict_do_update(index_elements=["incident_id", "clock"], set_=values)
        )

    async def cancel(self, incident_id: uuid.UUID, *kinds: str, tier: str | None = None) -> None:
        """Running or paused clocks of these kinds (of ``tier`` only, if given) shown cancelled."""
        stmt = update(SlaClockView).where(
            SlaClockView.incident_id == incident_id,
            SlaClockView.clock.in_(kinds),
            SlaClockView.state.in_(("running", "paused")),
        )
        self.written = True
        if tier is not None:
            stmt = stmt.where(SlaClockView.tier == tier)
        await self.session.execute(stmt.values(state="cancelled", remaining_seconds=None))


class ProblemRepository(Repository[ProblemRow]):
    model = ProblemRow
    what = "problem"

    async def load(self, problem_id: uuid.UUID, *, lock: bool = False) -> ProblemRow:
        row = await self.get(problem_id, lock=lock)
        if row is None:
            raise NotFound(f"No problem {problem_id}.")
        return row

    async def page(
        self, flt: ProblemFilter, *, limit: int, cursor: str | None
    ) -> tuple[list[ProblemRow], str | None]:
        """A page of problems, newest first, and the cursor of the next page (None on the last)."""
        conditions: list[ColumnElement[bool]] = []
        if flt.status:
            conditions.append(ProblemRow.status.in_(flt.status))
        if flt.known_error is not None:
            conditions.append(ProblemRow.known_error.is_(flt.known_error))
        if flt.service is not None:
            conditions.append(
                select(IncidentRow.id)
                .where(IncidentRow.problem_id == ProblemRow.id, IncidentRow.service == flt.service)
                .exists()
            )
        if flt.created_since:
            conditions.append(ProblemRow.created_at >= flt.created_since)
        if flt.created_until:
            conditions.append(ProblemRow.created_at < flt.created_until)
        return await pages.newest_first(
            self.session, select(ProblemRow).where(*conditions), ProblemRow, limit=limit, cursor=cursor
        )
