"""Reads and writes the router's configuration and assignments as domain objects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.orm import AgentRow, AssignmentRow, ListedVendorRow, PolicyRow, QueueRow
from tierline_router.domain.model import Agent, EscalationPolicy, ListedVendor, Queue, VendorContract
from tierline_router.domain.strategies import Candidate
from tierline_shared.errors import NotFound
from tierline_shared.events import VendorChanged

ACTIVE, RELEASED = "active", "released"
# in queries meant for a partial index: a literal, so a cached generic plan still matches the index
IS_ACTIVE = AssignmentRow.status == literal_column("'active'")


@dataclass(frozen=True)
class Catalog:
    """The routing configuration as one consistent snapshot, read inside the caller's transaction."""

    agents: dict[str, Agent]
    queues: list[Queue]  # by tier, then rank
    policies: list[EscalationPolicy]  # by rank

    def queue(self, name: str | None) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)

    def policy(self, name: str | None) -> EscalationPolicy | None:
        return next((p for p in self.policies if p.name == name), None)


def agent_of(row: AgentRow) -> Agent:
    return Agent.model_validate({**row.spec, "name": row.name, "available": row.available})


def queue_of(row: QueueRow) -> Queue:
    return Queue.model_validate({**row.spec, "name": row.name, "tier": row.tier})


def policy_of(row: PolicyRow) -> EscalationPolicy:
    return EscalationPolicy.model_validate({**row.spec, "name": row.name})


async def queue_rows(session: AsyncSession, tier: str | None = None) -> list[QueueRow]:
    """Queues in match order: by tier, then rank (only ``tier``'s when given)."""
    stmt = select(QueueRow).order_by(QueueRow.tier, QueueRow.rank, QueueRow.name)
    if tier is not None:
        stmt = stmt.where(QueueRow.tier == tier)
    return list((await session.scalars(stmt)).all())


async def policy_rows(session: AsyncSession) -> list[PolicyRow]:
    """Escalation policies in match order."""
    return list((await session.scalars(select(PolicyRow).order_by(PolicyRow.rank, PolicyRow.name))).all())


async def load_catalog(session: AsyncSession) -> Catalog:
    agents = (await session.scalars(select(AgentRow))).all()
    queues = await queue_rows(session)
    policies = await policy_rows(session)
    return Catalog(
        agents={a.name: agent_of(a) for a in agents},
        queues=[queue_of(q) for q in queues],
        policies=[policy_of(p) for p in policies],
    )


async def loads(session: AsyncSession, agents: Sequence[str]) -> dict[str, int]:
    """Open incidents each agent holds, across every queue."""
    if not agents:
        return {}
    rows = await session.execute(
        select(AssignmentRow.assignee, func.count())
        .where(IS_ACTIVE, AssignmentRow.assignee.in_(list(agents)))
        .group_by(AssignmentRow.assignee)
    )
    return {name: count for name, count in rows}


async def candidates(session: AsyncSession, catalog: Catalog, queue: Queue) -> list[Candidate]:
    held = await loads(session, queue.agents)
    members = [catalog.agents[name] for name in queue.agents if name in catalog.agents]
    return [
        Candidate(
            name=a.name,
            skills=frozenset(a.skills),
            capacity=a.capacity,
            load=held.get(a.name, 0),
            available=a.available,
        )
        for a in members
    ]


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


async def queue_counts(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Per queue: (incidents held by an agent, incidents waiting for one)."""
    rows = await session.execute(
        select(AssignmentRow.queue, AssignmentRow.assignee.is_(None), func.count())
        .where(AssignmentRow.status == ACTIVE, AssignmentRow.queue.is_not(None))
        .group_by(AssignmentRow.queue, AssignmentRow.assignee.is_(None))
    )
    counts: dict[str, list[int]] = {}
    for queue, is_waiting, count in rows:
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


async def ack_overdue(session: AsyncSession, now: datetime, limit: int) -> list[AssignmentRow]:
    stmt = (
        select(AssignmentRow)
        .where(
            AssignmentRow.ack_due_at <= now,
            IS_ACTIVE,
            AssignmentRow.is_acknowledged.is_(False),
        )
        .order_by(AssignmentRow.ack_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def vendor_directory(session: AsyncSession) -> dict[str, ListedVendor]:
    rows = (await session.scalars(select(ListedVendorRow))).all()
    return {
        row.vendor: ListedVendor(
            vendor=row.vendor,
            products=row.products,
            categories=row.categories,
            contract=VendorContract(
                response=(row.contract or {}).get("response_seconds"),
                resolution=(row.contract or {}).get("resolution_seconds"),
            ),
            is_enabled=row.is_enabled,
        )
        for row in rows
    }


async def list_vendor(session: AsyncSession, event: VendorChanged) -> None:
    """Keep the latest word on a vendor; an older announcement arriving late changes nothing."""
    values = {
        "products": event.products,
        "categories": event.categories,
        "contract": event.contract.model_dump() if event.contract else None,
        "is_enabled": event.is_enabled,
        "revision": event.revision,
        "changed_at": event.changed_at,
    }
    statement = insert(ListedVendorRow).values(vendor=event.vendor, **values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ListedVendorRow.vendor],
            set_=values,
            where=ListedVendorRow.revision < statement.excluded.revision,
        )
    )
