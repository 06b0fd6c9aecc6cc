"""Managing agents, queues and escalation policies: from the policy file at start, or the admin API.

Each change runs under the routing lock and is checked against the whole configuration, so
no edit leaves a tier without a queue, a priority without a policy, or a queue naming a
stranger. Changes that free or remove people move work at once: waiting incidents go to
whoever can now take them, and an agent who leaves has their incidents reassigned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import AgentRow, AssignmentRow, PolicyRow, QueueRow
from tierline_router.adapters.repository import ACTIVE, Catalog
from tierline_router.domain.model import Agent, EscalationPolicy, Queue, RoutingConfig, coverage_problem
from tierline_router.service_layer.routing import RouterDeps, hand_out_waiting, lock_routing, reassign_held
from tierline_shared.db import get_or_404
from tierline_shared.errors import AlreadyExists, Conflict, IncompleteConfiguration, InvalidInput
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
CONFIG, API = "config", "api"
RANK_STEP = 10


class InUse(Conflict):
    type_slug = "in-use"
    title = "The resource is still in use"


def _agent_spec(agent: Agent) -> dict[str, object]:
    return agent.model_dump(mode="json", include={"skills", "capacity"})


def _queue_spec(queue: Queue) -> dict[str, object]:
    return queue.model_dump(mode="json", exclude={"name", "tier"})


def _policy_spec(policy: EscalationPolicy) -> dict[str, object]:
    return policy.model_dump(mode="json", exclude={"name"})


async def apply_config(session: AsyncSession, deps: RouterDeps, config: RoutingConfig) -> None:
    """Make the database hold what the policy file declares (objects made through the API stay)."""
    await lock_routing(session)
    now = deps.clock.now()
    for agent in config.agents:
        await session.execute(
            insert(AgentRow)
            .values(
                name=agent.name,
                spec=_agent_spec(agent),
                available=agent.available,
                managed_by=CONFIG,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=[AgentRow.name],
                set_={"spec": _agent_spec(agent), "managed_by": CONFIG, "updated_at": now},
            )
        )
    for rank, queue in enumerate(config.queues):
        values = {
            "tier": queue.tier,
            "rank": rank * RANK_STEP,
            "spec": _queue_spec(queue),
            "managed_by": CONFIG,
        }
        await session.execute(
            insert(QueueRow)
            .values(name=queue.name, position=0, created_at=now, updated_at=now, **values)
            .on_conflict_do_update(index_elements=[QueueRow.name], set_={**values, "updated_at": now})
        )
    for rank, policy in enumerate(config.escalation_policies):
        values = {"rank": rank * RANK_STEP, "spec": _policy_spec(policy), "managed_by": CONFIG}
        await session.execute(
            insert(PolicyRow)
            .values(name=policy.name, created_at=now, updated_at=now, **values)
            .on_conflict_do_update(index_elements=[PolicyRow.name], set_={**values, "updated_at": now})
        )
    session.expire_all()
    catalog = await _checked_catalog(session)
    for agent in config.agents:
        if not catalog.agents[agent.name].available:
            await reassign_held(session, deps, catalog, agent.name)
    for queue in catalog.queues:
        await hand_out_waiting(session, deps, catalog, queue)
    _log.info(
        "routing_config_applied",
        agents=len(config.agents),
        queues=len(config.queues),
        policies=len(config.escalation_policies),
    )


WHAT = {AgentRow: "agent", QueueRow: "queue", PolicyRow: "escalation policy"}
Row = TypeVar("Row", AgentRow, QueueRow, PolicyRow)


async def _found(session: AsyncSession, model: type[Row], name: str, *, lock: bool = True) -> Row:
    return await get_or_404(session, model, name, WHAT[model], lock=lock)


async def _checked_catalog(session: AsyncSession) -> Catalog:
    await session.flush()
    catalog = await repo.load_catalog(session)
    problem = coverage_problem(catalog.queues, catalog.policies)
    if problem:
        raise IncompleteConfiguration(f"The change is refused: {problem}.")
    return catalog


async def _next_rank(session: AsyncSession, column: object) -> int:
    highest = await session.scalar(select(func.max(column)))  # type: ignore[call-overload]
    return (highest if highest is not None else -RANK_STEP) + RANK_STEP


# --- agents ---------------------------------------------------------------------------------------


async def create_agent(session: AsyncSession, deps: RouterDeps, agent: Agent) -> Agent:
    await lock_routing(session)
    if await session.get(AgentRow, agent.name) is not None:
        raise AlreadyExists(f"An agent named {agent.name!r} exists.", name=agent.name)
    now = deps.clock.now()
    session.add(
        AgentRow(
            name=agent.name,
            spec=_agent_spec(agent),
            available=agent.available,
            managed_by=API,
            created_at=now,
            updated_at=now,
        )
    )
    await session.flush()
    return agent


async def update_agent(session: AsyncSession, deps: RouterDeps, agent: Agent) -> Agent:
    """Replace an agent's skills, capacity and availability, then move work to match."""
    await lock_routing(session)
    row = await _found(session, AgentRow, agent.name)
    was_available = row.available
    row.spec, row.available, row.updated_at = _agent_spec(agent), agent.available, deps.clock.now()
    catalog = await _checked_catalog(session)
    if was_available and not agent.available:
        moved = await reassign_held(session, deps, catalog, agent.name)
        _log.info("agent_away", agent=agent.name, reassigned=moved)
    await _hand_out_in_queues_of(session, deps, catalog, agent.name)
    return repo.agent_of(row)


async def get_agent(session: AsyncSession, name: str) -> Agent:
    return repo.agent_of(await _found(session, AgentRow, name, lock=False))


async def delete_agent(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    await lock_routing(session)
    row = await _found(session, AgentRow, name)
    catalog = await repo.load_catalog(session)
    member_of = [q.name for q in catalog.queues if name in q.agents]
    if member_of:
        raise InUse(
            f"Agent {name!r} belongs to queues {', '.join(member_of)}; take them out of those first.",
            queues=member_of,
        )
    held = (await repo.loads(session, [name])).get(name, 0)
    if held:
        raise InUse(f"Agent {name!r} holds {held} open incidents; set them away first.", open_incidents=held)
    await session.delete(row)


async def _hand_out_in_queues_of(
    session: AsyncSession, deps: RouterDeps, catalog: Catalog, agent: str
) -> None:
    for queue in catalog.queues:
        if agent in queue.agents:
            await hand_out_waiting(session, deps, catalog, queue)


# --- queues ---------------------------------------------------------------------------------------


def _check_members(catalog: Catalog, queue: Queue) -> None:
    for index, name in enumerate(queue.agents):
        if name not in catalog.agents:
            raise InvalidInput(
                f"agents[{index}]: there is no agent {name!r}; create it first.",
                errors=[
                    {
                        "field": f"agents.{index}",
                        "reason": f"unknown agent {name!r}",
                        "pointer": f"/agents/{index}",
                    }
                ],
            )


async def create_queue(session: AsyncSession, deps: RouterDeps, queue: Queue, rank: int | None) -> QueueRow:
    await lock_routing(session)
    if await session.get(QueueRow, queue.name) is not None:
        raise AlreadyExists(f"A queue named {queue.name!r} exists.", name=queue.name)
    catalog = await repo.load_catalog(session)
    _check_members(catalog, queue)
    now = deps.clock.now()
    row = QueueRow(
        name=queue.name,
        tier=queue.tier,
        rank=rank if rank is not None else await _next_rank(session, QueueRow.rank),
        spec=_queue_spec(queue),
        position=0,
        managed_by=API,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await hand_out_waiting(session, deps, await _checked_catalog(session), queue)
    return row


async def _open_in(session: AsyncSession, queue: str) -> int:
    count = await session.scalar(
        select(func.count()).where(AssignmentRow.status == ACTIVE, AssignmentRow.queue == queue)
    )
    return count or 0


async def update_queue(session: AsyncSession, deps: RouterDeps, queue: Queue, rank: int | None) -> QueueRow:
    """Replace a queue; members taken out hand their incidents in it to the rest."""
    await lock_routing(session)
    row = await _found(session, QueueRow, queue.name)
    catalog = await repo.load_catalog(session)
    _check_members(catalog, queue)
    if queue.tier != row.tier and await _open_in(session, queue.name):
        raise InUse(
            f"Queue {queue.name!r} holds open incidents at {row.tier}; it cannot move to {queue.tier}.",
            tier=row.tier,
        )
    removed = [a for a in row.spec.get("agents", []) if a not in queue.agents]
    row.tier, row.spec, row.updated_at = queue.tier, _queue_spec(queue), deps.clock.now()
    if rank is not None:
        row.rank = rank
    catalog = await _checked_catalog(session)
    for agent in removed:
        await reassign_held(session, deps, catalog, agent, queue.name)
    await hand_out_waiting(session, deps, catalog, queue)
    return row


async def get_queue(session: AsyncSession, name: str) -> QueueRow:
    return await _found(session, QueueRow, name, lock=False)


async def list_queues(session: AsyncSession) -> Sequence[QueueRow]:
    return (
        await session.scalars(select(QueueRow).order_by(QueueRow.tier, QueueRow.rank, QueueRow.name))
    ).all()


async def delete_queue(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    await lock_routing(session)
    row = await _found(session, QueueRow, name)
    open_incidents = await _open_in(session, name)
    if open_incidents:
        raise InUse(
            f"Queue {name!r} holds {open_incidents} open incidents; move or resolve them first.",
            open_incidents=open_incidents,
        )
    await session.delete(row)
    await _checked_catalog(session)


# --- escalation policies --------------------------------------------------------------------------


async def create_policy(
    session: AsyncSession, deps: RouterDeps, policy: EscalationPolicy, rank: int | None
) -> PolicyRow:
    await lock_routing(session)
    if await session.get(PolicyRow, policy.name) is not None:
        raise AlreadyExists(f"An escalation policy named {policy.name!r} exists.", name=policy.name)
    now = deps.clock.now()
    row = PolicyRow(
        name=policy.name,
        rank=rank if rank is not None else await _next_rank(session, PolicyRow.rank),
        spec=_policy_spec(policy),
        managed_by=API,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await _checked_catalog(session)
    return row


async def update_policy(
    session: AsyncSession, deps: RouterDeps, policy: EscalationPolicy, rank: int | None
) -> PolicyRow:
    """Replace a policy; incidents on it use the new ladder from their next move."""
    await lock_routing(session)
    row = await _found(session, PolicyRow, policy.name)
    row.spec, row.updated_at = _policy_spec(policy), deps.clock.now()
    if rank is not None:
        row.rank = rank
    await _checked_catalog(session)
    return row


async def get_policy(session: AsyncSession, name: str) -> PolicyRow:
    return await _found(session, PolicyRow, name, lock=False)


async def list_policies(session: AsyncSession) -> Sequence[PolicyRow]:
    return (await session.scalars(select(PolicyRow).order_by(PolicyRow.rank, PolicyRow.name))).all()


async def delete_policy(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    """Incidents on a deleted policy continue on whichever policy matches them."""
    await lock_routing(session)
    await session.delete(await _found(session, PolicyRow, name))
    await _checked_catalog(session)
