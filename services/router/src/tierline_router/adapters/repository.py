"""The router's repositories, and the module-level reads the catalog code uses (one import for both).

The aggregates' repositories live in ``assignments``, ``catalog`` and ``vendors``; the
functions below keep their names and signatures for the admin (catalog) code.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.assignments import AssignmentRepository
from tierline_router.adapters.catalog import (
    CatalogRepository,
    agent_of,
    load_catalog,
    policy_of,
    policy_rows,
    queue_of,
    queue_rows,
)
from tierline_router.adapters.orm import AssignmentRow
from tierline_router.adapters.queries import IS_ACTIVE, loads, open_by_tier_and_priority, queue_counts
from tierline_router.adapters.vendors import VendorDirectory
from tierline_router.domain.assignment import ACTIVE, RELEASED
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import ListedVendor, Queue
from tierline_router.domain.strategies import Candidate
from tierline_shared.errors import NotFound
from tierline_shared.events import VendorChanged

__all__ = [
    "ACTIVE",
    "IS_ACTIVE",
    "RELEASED",
    "AssignmentRepository",
    "Catalog",
    "CatalogRepository",
    "VendorDirectory",
    "ack_overdue",
    "agent_of",
    "candidates",
    "find_assignment",
    "get_assignment",
    "held_by",
    "list_vendor",
    "load_catalog",
    "loads",
    "open_by_tier_and_priority",
    "policy_of",
    "policy_rows",
    "queue_counts",
    "queue_of",
    "queue_rows",
    "vendor_directory",
    "waiting_in",
]


async def candidates(session: AsyncSession, catalog: Catalog, queue: Queue) -> list[Candidate]:
    return catalog.candidates(queue, await loads(session, queue.agents))


async def get_assignment(
    session: AsyncSession, incident_id: uuid.UUID, *, lock: bool = False
) -> AssignmentRow:
    row = await find_assignment(session, incident_id, lock=lock)
    if row is None:
        raise NotFound(f"The router holds no incident {incident_id}.")
    return row


async def find_assignment(
    session: AsyncSession, incident_id: uuid.UUID, *, lock: bool = False
) -> AssignmentRow | None:
    stmt = select(AssignmentRow).where(AssignmentRow.incident_id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def held_by(session: AsyncSession, agent: str, queue: str | None = None) -> list[AssignmentRow]:
    stmt = select(AssignmentRow).where(IS_ACTIVE, AssignmentRow.assignee == agent)
    if queue is not None:
        stmt = stmt.where(AssignmentRow.queue == queue)
    return list((await session.scalars(stmt.order_by(AssignmentRow.created_at).with_for_update())).all())


async def waiting_in(session: AsyncSession, queue: str) -> list[AssignmentRow]:
    """Incidents waiting for an agent in ``queue``: most urgent first, then oldest."""
    stmt = (
        select(AssignmentRow)
        .where(
            IS_ACTIVE,
            AssignmentRow.queue == queue,
            AssignmentRow.assignee.is_(None),
            AssignmentRow.waiting_since.is_not(None),
        )
        .order_by(AssignmentRow.priority, AssignmentRow.waiting_since, AssignmentRow.incident_id)
        .with_for_update()
    )
    return list((await session.scalars(stmt)).all())


async def ack_overdue(session: AsyncSession, now: datetime, limit: int) -> list[AssignmentRow]:
    stmt = (
        select(AssignmentRow)
        .where(AssignmentRow.ack_due_at <= now, IS_ACTIVE, AssignmentRow.is_acknowledged.is_(False))
        .order_by(AssignmentRow.ack_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def vendor_directory(session: AsyncSession) -> dict[str, ListedVendor]:
    return await VendorDirectory(session).directory()


async def list_vendor(session: AsyncSession, event: VendorChanged) -> None:
    """Keep the latest word on a vendor; an older announcement arriving late changes nothing."""
    await VendorDirectory(session).record(event)
