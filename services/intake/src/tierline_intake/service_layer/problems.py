"""Problem records: one root cause linked to several incidents (L3's tool)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, ProblemRow
from tierline_intake.service_layer.incidents import IntakeDeps, add_timeline
from tierline_shared import pagination as pages
from tierline_shared.errors import InvalidInput, NotFound


async def create_problem(
    session: AsyncSession,
    deps: IntakeDeps,
    *,
    title: str,
    root_cause: str | None,
    workaround: str | None,
    known_error: bool,
) -> ProblemRow:
    now = deps.clock.now()
    row = ProblemRow(
        id=uuid.uuid4(),
        title=title,
        root_cause=root_cause,
        workaround=workaround,
        known_error=known_error,
        status="open",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get_problem(session: AsyncSession, problem_id: uuid.UUID, *, lock: bool = False) -> ProblemRow:
    row = await session.get(ProblemRow, problem_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"No problem {problem_id}.")
    return row


async def update_problem(
    session: AsyncSession, deps: IntakeDeps, problem_id: uuid.UUID, changes: dict
) -> ProblemRow:
    row = await get_problem(session, problem_id, lock=True)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = deps.clock.now()
    return row


async def link_incidents(
    session: AsyncSession, deps: IntakeDeps, problem_id: uuid.UUID, incident_ids: list[uuid.UUID]
) -> list[IncidentRow]:
    problem = await get_problem(session, problem_id)
    rows = list(
        await session.scalars(select(IncidentRow).where(IncidentRow.id.in_(incident_ids)).with_for_update())
    )
    missing = sorted(set(incident_ids) - {r.id for r in rows}, key=str)
    if missing:
        raise InvalidInput(
            "Some incidents do not exist; nothing was linked.",
            errors=[
                {"field": "incident_ids", "pointer": "/incident_ids", "reason": f"unknown incident {m}"}
                for m in missing
            ],
        )
    now = deps.clock.now()
    for row in rows:
        if row.problem_id == problem.id:
            continue
        row.problem_id, row.updated_at = problem.id, now
        add_timeline(
            session,
            row.id,
            at=now,
            kind="problem_linked",
            source="intake",
            summary=f"Linked to problem {problem.title!r}"
            + (" (known error)" if problem.known_error else ""),
            data={"problem_id": str(problem.id)},
        )
    return rows


async def linked_incidents(session: AsyncSession, problem_id: uuid.UUID) -> list[uuid.UUID]:
    """The problem's incidents, oldest first."""
    return list(
        await session.scalars(
            select(IncidentRow.id)
            .where(IncidentRow.problem_id == problem_id)
            .order_by(IncidentRow.created_at, IncidentRow.id)
        )
    )


@dataclass(frozen=True)
class ProblemFilter:
    status: list[str] | None = None
    known_error: bool | None = None
    service: str | None = None  # problems with at least one linked incident of this service
    created_since: datetime | None = None  # inclusive
    created_until: datetime | None = None  # exclusive


async def list_problems(
    session: AsyncSession, flt: ProblemFilter, *, limit: int, cursor: str | None
) -> tuple[list[ProblemRow], str | None]:
    """A page of problems, newest first, and the cursor of the next page (None on the last)."""
    conditions = []
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
        session, select(ProblemRow).where(*conditions), ProblemRow, limit=limit, cursor=cursor
    )


async def incident_counts(session: AsyncSession, problem_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many incidents each of these problems links (absent: none)."""
    if not problem_ids:
        return {}
    rows = await session.execute(
        select(IncidentRow.problem_id, func.count())
        .where(IncidentRow.problem_id.in_(problem_ids))
        .group_by(IncidentRow.problem_id)
    )
    return {problem_id: count for problem_id, count in rows}
