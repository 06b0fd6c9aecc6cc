"""Reads for the gateway's APIs: cases and deliveries as lists and one by one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.pagination import newest_first
from tierline_vendor_gateway.adapters.orm import CaseRow, DeliveryRow
from tierline_vendor_gateway.adapters.repository import to_case, to_delivery
from tierline_vendor_gateway.domain.case import Case
from tierline_vendor_gateway.domain.webhook import Delivery


@dataclass(frozen=True)
class CaseFilter:
    vendor: str | None = None
    status: Sequence[str] | None = None
    incident_id: uuid.UUID | None = None
    created_since: datetime | None = None  # inclusive
    created_until: datetime | None = None  # exclusive


class Queries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def cases(
        self, flt: CaseFilter, *, limit: int, cursor: str | None
    ) -> tuple[list[Case], str | None]:
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
        rows, next_cursor = await newest_first(
            self.session, select(CaseRow).where(*conditions), CaseRow, limit=limit, cursor=cursor
        )
        return [to_case(r) for r in rows], next_cursor

    async def case(self, case_id: uuid.UUID) -> Case | None:
        row = await self.session.scalar(select(CaseRow).where(CaseRow.id == case_id))
        return None if row is None else to_case(row)

    async def deliveries(
        self, *, vendor: str | None, status: str | None, limit: int, case_id: uuid.UUID | None = None
    ) -> list[Delivery]:
        """The newest deliveries first."""
        stmt = select(DeliveryRow).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id).limit(limit)
        if case_id is not None:
            stmt = stmt.where(DeliveryRow.case_id == case_id)
        if vendor is not None:
            stmt = stmt.where(DeliveryRow.vendor == vendor)
        if status is not None:
            stmt = stmt.where(DeliveryRow.status == status)
        return [to_delivery(r) for r in (await self.session.scalars(stmt)).all()]

    async def delivery(self, delivery_id: str) -> Delivery | None:
        row = await self.session.get(DeliveryRow, delivery_id)
        return None if row is None else to_delivery(row)
