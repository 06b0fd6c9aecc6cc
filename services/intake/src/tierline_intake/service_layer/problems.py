"""Problem records: one root cause linked to several incidents (L3's tool)."""

from __future__ import annotations

import uuid
from typing import Any

from tierline_intake.adapters.filters import ProblemFilter
from tierline_intake.adapters.orm import ProblemRow
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.unit_of_work import SOURCE, IntakeUnitOfWork
from tierline_shared.errors import InvalidInput

__all__ = [
    "Problem",
    "ProblemFilter",
    "create_problem",
    "get_problem",
    "incident_counts",
    "link_incidents",
    "linked_incidents",
    "list_problems",
    "update_problem",
]

Problem = ProblemRow  # a problem record as stored: title, root cause, workaround, known error, status


async def create_problem(
    uow: IntakeUnitOfWork,
    deps: IntakeDeps,
    *,
    title: str,
    root_cause: str | None,
    workaround: str | None,
    known_error: bool,
) -> Problem:
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
    uow.problems.add(row)
    await uow.flush()
    return row


async def get_problem(uow: IntakeUnitOfWork, problem_id: uuid.UUID, *, lock: bool = False) -> Problem:
    return await uow.problems.load(problem_id, lock=lock)


async def update_problem(
    uow: IntakeUnitOfWork, deps: IntakeDeps, problem_id: uuid.UUID, changes: dict[str, Any]
) -> Problem:
    row = await uow.problems.load(problem_id, lock=True)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = deps.clock.now()
    return row


async def link_incidents(
    uow: IntakeUnitOfWork, deps: IntakeDeps, problem_id: uuid.UUID, incident_ids: list[uuid.UUID]
) -> None:
    """Link the incidents (all of them, or none if one does not exist) and say so on their timelines."""
    problem = await uow.problems.load(problem_id)
    incidents = await uow.incidents.load_many(incident_ids)
    missing = sorted(set(incident_ids) - {i.id for i in incidents}, key=str)
    if missing:
        raise InvalidInput(
            "Some incidents do not exist; nothing was linked.",
            errors=[
                {"field": "incident_ids", "pointer": "/incident_ids", "reason": f"unknown incident {m}"}
                for m in missing
            ],
        )
    now = deps.clock.now()
    for incident in incidents:
        if not incident.link_problem(problem.id, now=now):
            continue
        uow.incidents.save(incident)
        uow.timeline.record(
            incident.id,
            at=now,
            kind="problem_linked",
            source=SOURCE,
            summary=f"Linked to problem {problem.title!r}"
            + (" (known error)" if problem.known_error else ""),
            data={"problem_id": str(problem.id)},
        )


async def linked_incidents(uow: IntakeUnitOfWork, problem_id: uuid.UUID) -> list[uuid.UUID]:
    """The problem's incidents, oldest first."""
    return await uow.incidents.linked_to(problem_id)


async def list_problems(
    uow: IntakeUnitOfWork, flt: ProblemFilter, *, limit: int, cursor: str | None
) -> tuple[list[Problem], str | None]:
    """A page of problems, newest first, and the cursor of the next page (None on the last)."""
    return await uow.problems.page(flt, limit=limit, cursor=cursor)


async def incident_counts(uow: IntakeUnitOfWork, problem_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many incidents each of these problems links (absent: none)."""
    return await uow.incidents.count_by_problem(problem_ids)
