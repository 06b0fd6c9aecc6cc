"""The routing configuration read as one snapshot (schedules included), the queues' shared rotation,
and the three catalogs (agents, queues, escalation policies) as the shared catalog resource stores them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.orm import AgentRow, CatalogVersionRow, PolicyRow, QueueRow
from tierline_router.adapters.schedules import load_schedules
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import FILTER_UNIVERSES, Agent, EscalationPolicy, Queue
from tierline_shared.catalog import repository, resource
from tierline_shared.catalog.versions import Versioned
from tierline_shared.db import Repository

POLICY = "escalation policy"


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
    """The catalog built from its rows (read-only: a process keeps it while its version holds)."""
    agents = (await session.scalars(select(AgentRow))).all()
    queues = await queue_rows(session)
    policies = await policy_rows(session)
    return Catalog(
        agents={a.name: agent_of(a) for a in agents},
        queues=tuple(queue_of(q) for q in queues),
        policies=tuple(policy_of(p) for p in policies),
        schedules=await load_schedules(session),
    )


CATALOG = Versioned(select(CatalogVersionRow.version).where(CatalogVersionRow.id == 1), load_catalog)


async def current_catalog(session: AsyncSession) -> Catalog:
    """The catalog as this transaction sees it, built from the rows once per version."""
    return await CATALOG.current(session)


class CatalogRepository(Repository[QueueRow]):
    """What routing reads of the configuration, and each queue's rotation (shared by every replica)."""

    model = QueueRow
    what = "queue"

    async def load(self) -> Catalog:
        return await current_catalog(self.session)

    async def rotation(self, queue: str) -> int | None:
        """Where ``queue``'s rotation stands, locked until the transaction ends; None if it is gone."""
        row = await self.get(queue, lock=True)
        return None if row is None else row.position

    async def turn(self, queue: str, position: int) -> None:
        """Move ``queue``'s rotation on (after ``rotation`` read it)."""
        # the session's own copy, locked by ``rotation``: no second SELECT (``get`` with lock=False
        # passes with_for_update=False, which SQLAlchemy takes as "query again")
        row = await self.session.get(QueueRow, queue)
        if row is not None:
            row.position = position


# --- the catalogs the admin API and the policy file change --------------------------------------


def queue_kind(scope: resource.Scope) -> str:
    """How messages name a queue: by its tier, the list it is ordered in."""
    return f"{scope['tier']} queue"


def _queue_spec(queue: Queue) -> dict[str, object]:
    return queue.model_dump(mode="json", exclude={"name", "tier"})


def _policy_spec(policy: EscalationPolicy) -> dict[str, object]:
    return policy.model_dump(mode="json", exclude={"name"})


AGENTS = resource.Resource[AgentRow, Agent](
    row=AgentRow,
    what="agent",
    article="an",
    item_of=agent_of,
    columns=lambda a: {"spec": a.model_dump(mode="json", include={"skills", "capacity"})},
    on_create=lambda a: {"available": a.available},  # runtime state: the file never resets it
)
QUEUES = resource.Resource[QueueRow, Queue](
    row=QueueRow,
    what="queue",
    article="a",
    item_of=queue_of,
    columns=lambda q: {"tier": q.tier, "spec": _queue_spec(q)},
    on_create=lambda _: {"position": 0},
    ranked=True,
    scope_by=("tier",),
    universes=FILTER_UNIVERSES,
    kind_in=queue_kind,
)
POLICIES = resource.Resource[PolicyRow, EscalationPolicy](
    row=PolicyRow,
    what=POLICY,
    article="an",
    item_of=policy_of,
    columns=lambda p: {"spec": _policy_spec(p)},
    ranked=True,
    universes=FILTER_UNIVERSES,
)


def agents(session: AsyncSession) -> resource.Catalog[AgentRow, Agent]:
    return resource.Catalog(AGENTS, repository.CatalogRepository(session, AgentRow, what="agent"))


def queues(session: AsyncSession) -> resource.Catalog[QueueRow, Queue]:
    return resource.Catalog(
        QUEUES, repository.CatalogRepository(session, QueueRow, what="queue", order=("tier", "rank", "name"))
    )


def policies(session: AsyncSession) -> resource.Catalog[PolicyRow, EscalationPolicy]:
    return resource.Catalog(
        POLICIES, repository.CatalogRepository(session, PolicyRow, what=POLICY, order=("rank", "name"))
    )
