"""Reading cases: filtered, keyset-paginated lists, newest first (as intake lists incidents)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.pagination import newest_first
from tierline_vendor_gateway.adapters.orm import CaseRow


@dataclass(frozen=True)
class CaseFilter:
    vendor: str | None = None
    status: list[str] | None = None
    incident_id: uuid.UUID | None = None
    created_since: datetime | None = None  # inclusive
    created_until: datetime | None = None  # exclusive


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
    return await newest_first(
        session, select(CaseRow).where(*conditions), CaseRow, limit=limit, cursor=cursor
    )
