"""Counts over open assignments: agents' loads, the gauges, the queue listing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.orm import AssignmentRow
from tierline_router.domain.assignment import ACTIVE

# in queries meant for a partial index: a literal, so a cached generic plan still matches the index
IS_ACTIVE = AssignmentRow.status == literal_column("'active'")


async def loads(session: AsyncSession, agents: Sequence[str]) -> dict[str, int]:
    """Open incidents each agent holds, across every queue."""
    if not agents:
        return {}
    rows = await session.execute(
        select(AssignmentRow.assignee, func.count())
        .where(IS_ACTIVE, AssignmentRow.assignee.in_(list(agents)))
        .group_by(AssignmentRow.assignee)
    )
    return {name: count for name, count in rows if name is not None}


async def open_in(session: AsyncSession, queue: str) -> int:
    """Open incidents in ``queue``, held or waiting."""
    count = await session.scalar(
        select(func.count()).where(AssignmentRow.status == ACTIVE, AssignmentRow.queue == queue)
    )
    return count or 0


async def queue_counts(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Per queue: (incidents held by an agent, incidents waiting for one)."""
    rows = await session.execute(
        select(AssignmentRow.queue, AssignmentRow.assignee.is_(None), func.count())
        .where(AssignmentRow.status == ACTIVE, AssignmentRow.queue.is_not(None))
        .group_by(AssignmentRow.queue, AssignmentRow.assignee.is_(None))
    )
    counts: dict[str, list[int]] = {}
    for queue, is_waiting, count in rows:
        if queue is None:  # filtered out above; for the type checker
            continue
        counts.setdefault(queue, [0, 0])[1 if is_waiting else 0] += count
    return {q: (held, waiting) for q, (held, waiting) in counts.items()}


async def open_by_tier_and_priority(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Open incidents per (tier, priority), vendor-held (L4) included."""
    rows = await session.execute(
        select(AssignmentRow.tier, AssignmentRow.priority, func.count())
        .where(IS_ACTIVE)
        .group_by(AssignmentRow.tier, AssignmentRow.priority)
    )
    return {(tier, priority): count for tier, priority, count in rows}
