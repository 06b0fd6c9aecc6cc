"""The gateway's repositories: cases, deliveries and their log, incident briefs, seen callbacks.

Each maps its rows to the domain's aggregates and remembers the row it loaded an aggregate
from, so ``save`` is an attribute copy the session flushes (several rows in one round trip)
rather than a statement per aggregate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import Repository
from tierline_vendor_gateway.adapters.orm import (
    CaseRow,
    DeliveryAttemptRow,
    DeliveryRow,
    IncidentSnapshotRow,
    SeenCallbackRow,
)
from tierline_vendor_gateway.domain.case import Case
from tierline_vendor_gateway.domain.snapshot import IncidentBrief
from tierline_vendor_gateway.domain.webhook import AttemptRecord, ClaimedDelivery, Delivery

_CASE_FIELDS = ("status", "vendor_reference", "updated_at")
_DELIVERY_FIELDS = (
    "url",
    "status",
    "attempts",
    "next_attempt_at",
    "leased_until",
    "last_status_code",
    "last_error",
    "delivered_at",
)


def _copy(source: object, target: object, fields: Iterable[str]) -> None:
    """Set only what changed: an unchanged attribute stays out of the UPDATE."""
    for name in fields:
        value = getattr(source, name)
        if getattr(target, name) != value:
            setattr(target, name, value)


def to_case(row: CaseRow) -> Case:
    return Case(
        row.id, row.incident_id, row.vendor, row.status, row.vendor_reference, row.created_at, row.updated_at
    )


def to_delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        id=row.id,
        case_id=row.case_id,
        vendor=row.vendor,
        url=row.url,
        body=row.body,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        leased_until=row.leased_until,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )


class CaseRepository(Repository[CaseRow]):
    model = CaseRow
    what = "case"

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._rows: dict[uuid.UUID, CaseRow] = {}

    def track(self, row: CaseRow) -> Case:
        """The aggregate of a row loaded elsewhere (a join), saved through this repository."""
        self._rows[row.id] = row
        return to_case(row)

    async def get_case(self, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
        stmt = select(CaseRow).where(CaseRow.id == case_id)
        row = await self.session.scalar(stmt.with_for_update() if lock else stmt)
        return None if row is None else self.track(row)

    def add_case(self, case: Case) -> None:
        row = CaseRow(
            id=case.id,
            incident_id=case.incident_id,
            vendor=case.vendor,
            status=case.status,
            vendor_reference=case.vendor_reference,
            created_at=case.created_at,
            updated_at=case.updated_at,
        )
        self.add(row)
        self._rows[case.id] = row

    def save(self, case: Case) -> None:
        _copy(case, self._rows[case.id], _CASE_FIELDS)


class DeliveryRepository(Repository[DeliveryRow]):
    model = DeliveryRow
    what = "delivery"

    def __init__(self, session: AsyncSession, cases: CaseRepository) -> None:
        super().__init__(session)
        self._cases = cases
        self._rows: dict[str, DeliveryRow] = {}

    def _track(self, row: DeliveryRow) -> Delivery:
        self._rows[row.id] = row
        return to_delivery(row)

    def add_delivery(self, delivery: Delivery) -> None:
        row = DeliveryRow(**asdict(delivery))
        self.add(row)
        self._rows[delivery.id] = row

    def save(self, delivery: Delivery) -> None:
        _copy(delivery, self._rows[delivery.id], _DELIVERY_FIELDS)

    async def get_delivery(self, delivery_id: str, *, lock: bool = False) -> Delivery | None:
        """The delivery; ``lock`` as the worker locks it (claims skip it, recording waits for it)."""
        stmt = select(DeliveryRow).where(DeliveryRow.id == delivery_id)
        row = await self.session.scalar(stmt.with_for_update() if lock else stmt)
        return None if row is None else self._track(row)

    async def lock_with_cases(self, ids: Sequence[str]) -> dict[str, tuple[Delivery, Case]]:
        """The deliveries and their cases, locked in one query (in id order: one lock order for all)."""
        rows = await self.session.execute(
            select(DeliveryRow, CaseRow)
            .join(CaseRow, CaseRow.id == DeliveryRow.case_id)
            .where(DeliveryRow.id.in_(ids))
            .order_by(DeliveryRow.id)
            .with_for_update()
        )
        cases: dict[uuid.UUID, Case] = {}
        found: dict[str, tuple[Delivery, Case]] = {}
        for delivery, case in rows:
            if case.id not in cases:
                cases[case.id] = self._cases.track(case)
            found[delivery.id] = (self._track(delivery), cases[case.id])
        return found

    async def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[ClaimedDelivery]:
        """Take due deliveries for one attempt; the lease hides them from other workers meanwhile."""
        due = (
            select(DeliveryRow.id)
            .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
            .order_by(DeliveryRow.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = await self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(due.scalar_subquery()))
            .values(attempts=DeliveryRow.attempts + 1, next_attempt_at=now + lease, leased_until=now + lease)
            .returning(
                DeliveryRow.id, DeliveryRow.vendor, DeliveryRow.url, DeliveryRow.body, DeliveryRow.attempts
            )
            .execution_options(synchronize_session=False)
        )
        return [ClaimedDelivery(*row) for row in rows]

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
        )
        return {status: count for status, count in rows.all()}


def _log_row(r: AttemptRecord) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "delivery_id": r.delivery_id,
        "vendor": r.vendor,
        "attempt": r.attempt,
        "status_code": r.status_code,
        "latency_ms": r.latency_ms,
        "error": r.error,
        "response_excerpt": r.response_excerpt,
        "attempted_at": r.attempted_at,
    }


class AttemptLog(Repository[DeliveryAttemptRow]):
    """The delivery log: appended in one statement per batch, read per delivery."""

    model = DeliveryAttemptRow
    what = "attempt"

    async def append(self, records: Sequence[AttemptRecord]) -> None:
        if records:
            await self.session.execute(insert(DeliveryAttemptRow), [_log_row(r) for r in records])

    async def of(self, delivery_ids: Sequence[str]) -> dict[str, list[AttemptRecord]]:
        """Each delivery's attempts, oldest first."""
        rows = await self.session.scalars(
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.delivery_id.in_(delivery_ids))
            .order_by(DeliveryAttemptRow.delivery_id, DeliveryAttemptRow.attempted_at)
        )
        by_delivery: dict[str, list[AttemptRecord]] = {}
        for a in rows:
            by_delivery.setdefault(a.delivery_id, []).append(
                AttemptRecord(
                    delivery_id=a.delivery_id,
                    vendor=a.vendor,
                    attempt=a.attempt,
                    status_code=a.status_code,
                    latency_ms=a.latency_ms,
                    error=a.error,
                    response_excerpt=a.response_excerpt,
                    attempted_at=a.attempted_at,
                )
            )
        return by_delivery


class BriefRepository(Repository[IncidentSnapshotRow]):
    """Incident briefs; a brief is created empty when routing events arrive before the incident's own."""

    model = IncidentSnapshotRow
    what = "incident snapshot"

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._rows: dict[uuid.UUID, IncidentSnapshotRow] = {}

    async def lock(self, incident_id: uuid.UUID) -> IncidentBrief:
        """The incident's brief, locked until the transaction ends (one statement: created empty or
        touched, either way the row is locked and returned)."""
        new = insert(IncidentSnapshotRow).values(incident_id=incident_id, data={})
        row = await self.session.scalar(
            new.on_conflict_do_update(
                index_elements=[IncidentSnapshotRow.incident_id], set_={"data": IncidentSnapshotRow.data}
            )
            .returning(IncidentSnapshotRow)
            .execution_options(populate_existing=True)
        )
        assert row is not None
        self._rows[incident_id] = row
        return IncidentBrief(incident_id, row.data)

    async def read(self, incident_id: uuid.UUID) -> IncidentBrief:
        """The brief as it stands (empty when nothing was heard of the incident)."""
        data = await self.session.scalar(
            select(IncidentSnapshotRow.data).where(IncidentSnapshotRow.incident_id == incident_id)
        )
        return IncidentBrief(incident_id, dict(data or {}))

    def save(self, brief: IncidentBrief) -> None:
        row = self._rows[brief.incident_id]
        if row.data is not brief.data:
            row.data = brief.data


class SeenCallbacks(Repository[SeenCallbackRow]):
    model = SeenCallbackRow
    what = "callback"

    async def first_time(self, webhook_id: str, vendor: str, now: datetime) -> bool:
        """Remember a callback's webhook-id; False when it was seen before."""
        fresh = await self.session.scalar(
            insert(SeenCallbackRow)
            .values(webhook_id=webhook_id, vendor=vendor, received_at=now)
            .on_conflict_do_nothing()
            .returning(SeenCallbackRow.webhook_id)
        )
        return fresh is not None
