"""Managing agents, queues and escalation policies: from the policy file at start, or the admin API.

This module says what the three catalogs are, applies the file and manages agents; ``queues``
and ``policies`` manage the rest.

Each change runs under the routing lock and is checked against the whole configuration, so
no edit leaves a tier without a queue, a priority without a policy, or a queue naming a
stranger. Changes that free or remove people move work at once: waiting incidents go to
whoever can now take them, and an agent who leaves has their incidents reassigned.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import AgentRow, PolicyRow, QueueRow
from tierline_router.adapters.repository import Catalog
from tierline_router.domain.model import (
    FILTER_UNIVERSES,
    Agent,
    EscalationPolicy,
    Queue,
    RoutingConfig,
    coverage_problem,
)
from tierline_router.service_layer.routing import RouterDeps, hand_out_waiting, lock_routing, reassign_held
from tierline_shared.catalog import resource
from tierline_shared.catalog.repository import CatalogRepository
from tierline_shared.errors import Conflict, IncompleteConfiguration
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
# the never-reached warnings at start keep the logger they were first logged by
_order_log = get_logger("tierline_router.service_layer.ordering")
CONFIG, API = resource.CONFIG, resource.API
POLICY = "escalation policy"


class InUse(Conflict):
    type_slug = "in-use"
    title = "The resource is still in use"


def queue_kind(scope: resource.Scope) -> str:
    """How messages name a queue: by its tier, the list it is ordered in."""
    return f"{scope['tier']} queue"


def queue_spec(queue: Queue) -> dict[str, object]:
    return queue.model_dump(mode="json", exclude={"name", "tier"})


def policy_spec(policy: EscalationPolicy) -> dict[str, object]:
    return policy.model_dump(mode="json", exclude={"name"})


AGENTS = resource.Resource[AgentRow, Agent](
    row=AgentRow,
    what="agent",
    article="an",
    item_of=repo.agent_of,
    columns=lambda a: {"spec": a.model_dump(mode="json", include={"skills", "capacity"})},
    on_create=lambda a: {"available": a.available},  # runtime state: the file never resets it
)
QUEUES = resource.Resource[QueueRow, Queue](
    row=QueueRow,
    what="queue",
    article="a",
    item_of=repo.queue_of,
    columns=lambda q: {"tier": q.tier, "spec": queue_spec(q)},
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
    item_of=repo.policy_of,
    columns=lambda p: {"spec": policy_spec(p)},
    ranked=True,
    universes=FILTER_UNIVERSES,
)


def agents(session: AsyncSession) -> resource.Catalog[AgentRow, Agent]:
    return resource.Catalog(AGENTS, CatalogRepository(session, AgentRow, what="agent"))


def queues(session: AsyncSession) -> resource.Catalog[QueueRow, Queue]:
    return resource.Catalog(
        QUEUES, CatalogRepository(session, QueueRow, what="queue", order=("tier", "rank", "name"))
    )


def policies(session: AsyncSession) -> resource.Catalog[PolicyRow, EscalationPolicy]:
    return resource.Catalog(
        POLICIES, CatalogRepository(session, PolicyRow, what=POLICY, order=("rank", "name"))
    )


async def apply_config(session: AsyncSession, deps: RouterDeps, config: RoutingConfig) -> None:
    """Make the database hold what the policy file declares (objects made through the API stay).

    The file's queues and policies take the file's order; those made through the API keep their
    place relative to the file's entries (see ``ranking.reapply``).
    """
    await lock_routing(session)
    now = deps.clock.now()
    await agents(session).apply_config(config.agents, now)
    await queues(session).apply_config(config.queues, now)
    await policies(session).apply_config(config.escalation_policies, now)
    await session.flush()
    for listed in [*await queues(session).list_all(), *await policies(session).list_all()]:
        for warning in listed.warnings:
            _order_log.warning("catalog_entry_never_reached", entry=listed.item.name, detail=warning.detail)
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


async def checked_catalog(session: AsyncSession) -> Catalog:
    await session.flush()
    catalog = await repo.load_catalog(session)
    problem = coverage_problem(catalog.queues, catalog.policies)
    if problem:
        raise IncompleteConfiguration(f"The change is refused: {problem}.")
    return catalog


# --- agents ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentView:
    """An agent with the work they hold and the queues they are in."""

    agent: Agent
    open_incidents: int
    queues: list[str]


async def agent_views(session: AsyncSession, names: list[str] | None = None) -> list[AgentView]:
    """The agents named (all, by name, when None) with their load and queues."""
    catalog = await repo.load_catalog(session)
    chosen = sorted(catalog.agents) if names is None else names
    held = await repo.loads(session, list(catalog.agents) if names is None else names)
    return [
        AgentView(
            agent=catalog.agents[name],
            open_incidents=held.get(name, 0),
            queues=[q.name for q in catalog.queues if name in q.agents],
        )
        for name in chosen
    ]


async def create_agent(session: AsyncSession, deps: RouterDeps, agent: Agent) -> Agent:
    await lock_routing(session)
    catalog = agents(session)
    await catalog.absent(agent.name)
    await catalog.add(agent, deps.clock.now())
    await session.flush()
    return agent


async def update_agent(session: AsyncSession, deps: RouterDeps, agent: Agent) -> Agent:
    """Replace an agent's skills, capacity and availability, then move work to match."""
    await lock_routing(session)
    catalog_ = agents(session)
    row = await catalog_.found(agent.name)
    was_available = row.available
    await catalog_.replace(row, agent, deps.clock.now())
    row.available = agent.available
    catalog = await checked_catalog(session)
    if was_available and not agent.available:
        moved = await reassign_held(session, deps, catalog, agent.name)
        _log.info("agent_away", agent=agent.name, reassigned=moved)
    await _hand_out_in_queues_of(session, deps, catalog, agent.name)
    return repo.agent_of(row)


async def get_agent(session: AsyncSession, name: str) -> Agent:
    return (await agents(session).get(name)).item


async def delete_agent(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    await lock_routing(session)
    catalog_ = agents(session)
    row = await catalog_.found(name)
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
    await catalog_.remove(row)


async def _hand_out_in_queues_of(
    session: AsyncSession, deps: RouterDeps, catalog: Catalog, agent: str
) -> None:
    for queue in catalog.queues:
        if agent in queue.agents:
            await hand_out_waiting(session, deps, catalog, queue)
