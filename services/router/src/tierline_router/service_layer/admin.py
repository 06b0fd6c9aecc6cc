"""Managing agents, queues and escalation policies: from the policy file at start, or the admin API.

This module applies the file and manages agents; ``queues`` and ``policies`` manage the rest.

Each change runs under the routing lock and is checked against the whole configuration, so
no edit leaves a tier without a queue, a priority without a policy, or a queue naming a
stranger. Changes that free or remove people move work at once: waiting incidents go to
whoever can now take them, and an agent who leaves has their incidents reassigned.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import AgentRow, PolicyRow, QueueRow
from tierline_router.adapters.repository import Catalog
from tierline_router.domain.model import Agent, EscalationPolicy, Queue, RoutingConfig, coverage_problem
from tierline_router.service_layer import ordering
from tierline_router.service_layer.routing import RouterDeps, hand_out_waiting, lock_routing, reassign_held
from tierline_shared.db import get_or_404
from tierline_shared.errors import AlreadyExists, Conflict, IncompleteConfiguration
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
CONFIG, API = "config", "api"


class InUse(Conflict):
    type_slug = "in-use"
    title = "The resource is still in use"


def _agent_spec(agent: Agent) -> dict[str, object]:
    return agent.model_dump(mode="json", include={"skills", "capacity"})


def queue_spec(queue: Queue) -> dict[str, object]:
    return queue.model_dump(mode="json", exclude={"name", "tier"})


def policy_spec(policy: EscalationPolicy) -> dict[str, object]:
    return policy.model_dump(mode="json", exclude={"name"})


async def apply_config(session: AsyncSession, deps: RouterDeps, config: RoutingConfig) -> None:
    """Make the database hold what the policy file declares (objects made through the API stay).

    The file's queues and policies take the file's order; those made through the API keep their
    place relative to the file's entries (see ``ranking.reapply``).
    """
    await lock_routing(session)
    before = await ordering.current_orders(session)
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
    for queue in config.queues:
        values = {"tier": queue.tier, "spec": queue_spec(queue), "managed_by": CONFIG}
        await session.execute(
            insert(QueueRow)  # rank 0 until the orders are renumbered below
            .values(name=queue.name, rank=0, position=0, created_at=now, updated_at=now, **values)
            .on_conflict_do_update(index_elements=[QueueRow.name], set_={**values, "updated_at": now})
        )
    for policy in config.escalation_policies:
        values = {"spec": policy_spec(policy), "managed_by": CONFIG}
        await session.execute(
            insert(PolicyRow)
            .values(name=policy.name, rank=0, created_at=now, updated_at=now, **values)
            .on_conflict_do_update(index_elements=[PolicyRow.name], set_={**values, "updated_at": now})
        )
    session.expire_all()
    await ordering.reapply_file_order(session, before, config.queues, config.escalation_policies)
    catalog = await checked_catalog(session)
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


async def found(session: AsyncSession, model: type[Row], name: str, *, lock: bool = True) -> Row:
    return await get_or_404(session, model, name, WHAT[model], lock=lock)


async def checked_catalog(session: AsyncSession) -> Catalog:
    await session.flush()
    catalog = await repo.load_catalog(session)
    problem = coverage_problem(catalog.queues, catalog.policies)
    if problem:
        raise IncompleteConfiguration(f"The change is refused: {problem}.")
    return catalog


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
    row = await found(session, AgentRow, agent.name)
    was_available = row.available
    row.spec, row.available, row.updated_at = _agent_spec(agent), agent.available, deps.clock.now()
    catalog = await checked_catalog(session)
    if was_available and not agent.available:
        moved = await reassign_held(session, deps, catalog, agent.name)
        _log.info("agent_away", agent=agent.name, reassigned=moved)
    await _hand_out_in_queues_of(session, deps, catalog, agent.name)
    return repo.agent_of(row)


async def get_agent(session: AsyncSession, name: str) -> Agent:
    return repo.agent_of(await found(session, AgentRow, name, lock=False))


async def delete_agent(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    await lock_routing(session)
    row = await found(session, AgentRow, name)
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
