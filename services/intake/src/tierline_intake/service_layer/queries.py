"""Reading incidents: filtered, keyset-paginated lists (newest first) and timelines."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, TimelineEntry
from tierline_shared import pagination as pages


@dataclass(frozen=True)
class IncidentFilter:
    status: list[str] | None = None
    priority: list[str] | None = None
    tier: list[str] | None = None
    service: str | None = None
    category: str | None = None
    product: str | None = None
    customer: str | None = None
    channel: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    problem_id: uuid.UUID | None = None


async def list_incidents(
    session: AsyncSession, flt: IncidentFilter, *, limit: int, cursor: str | None
) -> tuple[list[IncidentRow], str | None]:
    """A page of incidents, newest first, and the cursor of the next page (None on the last)."""
    conditions = []
    if flt.status:
        conditions.append(IncidentRow.status.in_(flt.status))
    if flt.priority:
        conditions.append(IncidentRow.priority.in_(flt.priority))
    if flt.tier:
        conditions.append(IncidentRow.tier.in_(flt.tier))
    for column, value in (
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
        session, select(IncidentRow).where(*conditions), IncidentRow, limit=limit, cursor=cursor
    )


async def timeline(session: AsyncSession, incident_id: uuid.UUID) -> list[TimelineEntry]:
    return list(
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.at, TimelineEntry.seq)
        )
    )
