"""The routing configuration read as one snapshot, and the queues' shared rotation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.orm import AgentRow, PolicyRow, QueueRow
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import Agent, EscalationPolicy, Queue
from tierline_shared.db import Repository


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


class CatalogRepository(Repository[QueueRow]):
    """What routing reads of the configuration, and each queue's rotation (shared by every replica)."""

    model = QueueRow
    what = "queue"

    async def load(self) -> Catalog:
        return await load_catalog(self.session)

    async def rotation(self, queue: str) -> int | None:
        """Where ``queue``'s rotation stands, locked until the transaction ends; None if it is gone."""
        row = await self.get(queue, lock=True)
        return None if row is None else row.position

    async def turn(self, queue: str, position: int) -> None:
        """Move ``queue``'s rotation on (after ``rotation`` read it)."""
        row = await self.get(queue)
        if row is not None:
            row.position = position
