"""Reading cases: filtered, keyset-paginated lists, newest first (as intake lists incidents)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.errors import InvalidInput
from tierline_vendor_gateway.adapters.orm import CaseRow


@dataclass(frozen=True)
class CaseFilter:
    vendor: str | None = None
    status: list[str] | None = None
    incident_id: uuid.UUID | None = None
    created_since: datetime | None = None  # inclusive
    created_until: datetime | None = None  # exclusive


def encode_cursor(row: CaseRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), str(row.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a page ended at; a 422 naming ``cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = json.loads(raw)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("a cursor's time has an offset")
        return at.astimezone(UTC), uuid.UUID(ident)
    # binascii, Unicode and JSON errors are ValueErrors; OverflowError: a time UTC cannot hold
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(
            "The cursor is not one this API returned.",
            errors=[{"field": "cursor", "in": "query", "reason": "not a cursor from next_cursor"}],
        ) from exc


async def list_cases(
    session: AsyncSession, flt: CaseFilter, *, limit: int, cursor: str | None
) -> tuple[list[CaseRow], str | None]:
    """A page of cases, newest first, and the cursor of the next page (None on the last)."""
    conditions = []
    if flt.vendor is not None:
        conditions.append(CaseRow.vendor == flt.vendor)
    if flt.status:
        conditions.append(CaseRow.status.in_(flt.status))
    if flt.incident_id is not None:
        conditions.append(CaseRow.incident_id == flt.incident_id)
    if flt.created_since is not None:
        conditions.append(CaseRow.created_at >= flt.created_since)
    if flt.created_until is not None:
        conditions.append(CaseRow.created_at < flt.created_until)
    if cursor:
        created, ident = decode_cursor(cursor)
        conditions.append(
            or_(CaseRow.created_at < created, and_(CaseRow.created_at == created, CaseRow.id < ident))
        )
    stmt = select(CaseRow).where(*conditions).order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
    rows = list(await session.scalars(stmt.limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor
