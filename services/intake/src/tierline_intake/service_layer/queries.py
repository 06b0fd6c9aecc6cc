"""Reading incidents: filtered, keyset-paginated lists (newest first) and timelines."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, TimelineEntry
from tierline_shared.errors import InvalidInput


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


def encode_cursor(row: IncidentRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = json.loads(raw)
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            "The cursor is not one this API returned.",
            errors=[{"field": "cursor", "in": "query", "reason": "not a cursor from next_cursor"}],
        ) from exc


async def list_incidents(
    session: AsyncSession, flt: IncidentFilter, *, limit: int, cursor: str | None
) -> tuple[list[IncidentRow], str | None]:
    stmt = select(IncidentRow)
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
    if cursor:
        created, ident = decode_cursor(cursor)
        conditions.append(
            or_(
                IncidentRow.created_at < created,
                and_(IncidentRow.created_at == created, IncidentRow.id < ident),
            )
        )
    if conditions:
        stmt = stmt.where(*conditions)
    rows = list(
        await session.scalars(
            stmt.order_by(IncidentRow.created_at.desc(), IncidentRow.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def timeline(session: AsyncSession, incident_id: uuid.UUID) -> list[TimelineEntry]:
    return list(
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.at, TimelineEntry.seq)
        )
    )
