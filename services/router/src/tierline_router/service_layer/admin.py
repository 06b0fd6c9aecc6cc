"""Managing agents, queues, policies and schedules: from the policy file at start, or the admin API.

This module says what the catalogs are, applies the file and manages agents; ``queues``,
``policies`` and ``schedules`` manage the rest.

Each change runs under the routing lock and is checked against the whole configuration, so
no edit leaves a tier without a queue, a priority without a policy, or a queue naming a
stranger. Changes that free or remove people move work at once: waiting incidents go to
whoever can now take them, and an agent who leaves has their incidents reassigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import Agent, RoutingConfig, coverage_problem, stranger_in
from tierline_router.domain.schedules.spec import ScheduleSpec
from tierline_router.service_layer.handover import reconcile_queue
from tierline_router.service_layer.placement import hand_out_waiting, reassign_held
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.catalog import resource
from tierline_shared.errors import Conflict
from tierline_shared.events import ScheduleChanged
from tierline_shared.events.routing import ScheduleChange
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
# the never-reached warnings at start keep the logger they were first logged by
_order_log = get_logger("tierline_router.service_layer.ordering")
CONFIG, API = resource.CONFIG, resource.API


class InUse(Conflict):
    type_slug = "in-use"
    title = "The resource is still in use"


async def apply_config(uow: RouterUnitOfWork, deps: RouterDeps, config: RoutingConfig) -> None:
    """Make the database hold what the policy file declares (objects made through the API stay).

    The file's queues and policies take the file's order; those made through the API keep their
    place relative to the file's entries (see ``ranking.reapply``). A queue the file gives a
    schedule, another schedule or ``reassign`` is reconciled with who is on call now
    (``handover.reconcile_queue``).
    """
    await uow.lock_routing()
    now = deps.clock.now()
    before = await uow.catalog.load()
    await uow.agents.apply_config(config.agents, now)
    await _apply_schedules(uow, deps, config)
    await uow.queues.apply_config(config.queues, now)
    await uow.policies.apply_config(config.escalation_policies, now)
    await uow.flush()
    ranked: list[resource.Listed[Any]] = [*await uow.queues.list_all(), *await uow.policies.list_all()]
    for listed in ranked:
        for warning in listed.warnings:
            _order_log.warning("catalog_entry_never_reached", entry=listed.item.name, detail=warning.detail)
    catalog = await checked_catalog(uow)
    for agent in config.agents:
        if not catalog.agents[agent.name].available:
            await reassign_held(uow, deps, catalog, agent.name)
    for spec in config.queues:
        queue = catalog.queue(spec.name)
        if queue is not None:
            await reconcile_queue(uow, deps, catalog, queue, before.queue(spec.name))
    for queue in catalog.queues:
        await hand_out_waiting(uow, deps, catalog, queue)
    _log.info(
        "routing_config_applied",
        agents=len(config.agents),
        queues=len(config.queues),
        policies=len(config.escalation_policies),
    )


async def _apply_schedules(uow: RouterUnitOfWork, deps: RouterDeps, config: RoutingConfig) -> None:
    """The file's schedules, each announced when it is new or changed; every one looked at again.

    Calendar layers imported through the API (``POST …/import``) into a schedule the file
    declares stay: the file's layers, then the stored calendar layers it does not name, in their
    stored order (a layer the file names is the file's).
    """
    now = deps.clock.now()
    stored = {listed.item.name: listed.item for listed in await uow.schedules.list_all()}
    before = {name: item.stored() for name, item in stored.items()}
    specs = [_keeping_imports(spec, stored.get(spec.name)) for spec in config.schedules]
    await uow.schedules.apply_config(specs, now)
    for spec in specs:
        await uow.schedule_store.watch_now(spec.name, now)
        change: ScheduleChange | None = (
            "created"
            if spec.name not in before
            else "updated"
            if before[spec.name] != spec.stored()
            else None
        )
        if change is not None:
            await uow.announce(ScheduleChanged(schedule=spec.name, change=change, at=now))


def _keeping_imports(spec: ScheduleSpec, stored: ScheduleSpec | None) -> ScheduleSpec:
    """``spec`` with the calendar layers of ``stored`` it does not name on top, in their order."""
    if stored is None:
        return spec
    declared = {layer.name for layer in spec.layers}
    kept = [layer for layer in stored.layers if layer.shifts is not None and layer.name not in declared]
    if not kept:
        return spec
    _log.info("schedule_imported_layers_kept", schedule=spec.name, layers=[layer.name for layer in kept])
    return spec.model_copy(update={"layers": [*spec.layers, *kept]})


async def checked_catalog(uow: RouterUnitOfWork) -> Catalog:
    await uow.flush()
    catalog = await uow.catalog.load()
    resource.refuse(coverage_problem(catalog.queues, catalog.policies))
    resource.refuse(schedule_problem(catalog, uow.now()))
    return catalog


def schedule_problem(catalog: Catalog, now: datetime) -> str | None:
    """Why a queue could not follow its schedule (it is gone, or it puts strangers on call: by a
    layer, or by an override that has not ended at ``now``), or None."""
    for queue in catalog.queues:
        if queue.schedule is None:
            continue
        schedule = catalog.schedules.get(queue.schedule)
        if schedule is None:
            return f"queue {queue.name!r} names schedule {queue.schedule!r}, which does not exist"
        gap = stranger_in(schedule.layers, queue.agents)
        if gap is not None:
            return (
                f"schedule {schedule.name!r} puts {gap[1]!r} on call ({gap[0]}),"
                f" who is not in queue {queue.name!r}"
            )
        for override in schedule.overrides:
            if override.end > now and override.person not in queue.agents:
                return (
                    f"an override of schedule {schedule.name!r} puts {override.person!r} on call"
                    f" from {override.start.isoformat()} to {override.end.isoformat()},"
                    f" who is not in queue {queue.name!r}'s agents ({', '.join(queue.agents) or 'none'});"
                    " add them to the queue or delete the override"
                )
    return None


# --- agents ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentView:
    """An agent with the work they hold and the queues they are in."""

    agent: Agent
    open_incidents: int
    queues: list[str]


async def agent_views(uow: RouterUnitOfWork, names: list[str] | None = None) -> list[AgentView]:
    """The agents named (all, by name, when None) with their load and queues."""
    catalog = await uow.catalog.load()
    chosen = sorted(catalog.agents) if names is None else names
    held = await uow.assignments.loads(list(catalog.agents) if names is None else names)
    return [
        AgentView(
            agent=catalog.agents[name],
            open_incidents=held.get(name, 0),
            queues=[q.name for q in catalog.queues if name in q.agents],
        )
        for name in chosen
    ]


async def create_agent(uow: RouterUnitOfWork, deps: RouterDeps, agent: Agent) -> Agent:
    await uow.lock_routing()
    await uow.agents.absent(agent.name)
    await uow.agents.add(agent, deps.clock.now())
    await uow.flush()
    return agent


async def update_agent(uow: RouterUnitOfWork, deps: RouterDeps, agent: Agent) -> Agent:
    """Replace an agent's skills, capacity and availability, then move work to match."""
    await uow.lock_routing()
    row = await uow.agents.found(agent.name)
    was_available = row.available
    await uow.agents.replace(row, agent, deps.clock.now())
    row.available = agent.available
    catalog = await checked_catalog(uow)
    if was_available and not agent.available:
        moved = await reassign_held(uow, deps, catalog, agent.name)
        _log.info("agent_away", agent=agent.name, reassigned=moved)
    await _hand_out_in_queues_of(uow, deps, catalog, agent.name)
    return uow.agents.view(row).item


async def get_agent(uow: RouterUnitOfWork, name: str) -> Agent:
    return (await uow.agents.get(name)).item


async def delete_agent(uow: RouterUnitOfWork, name: str) -> None:
    await uow.lock_routing()
    row = await uow.agents.found(name)
    catalog = await uow.catalog.load()
    member_of = [q.name for q in catalog.queues if name in q.agents]
    if member_of:
        raise InUse(
            f"Agent {name!r} belongs to queues {', '.join(member_of)}; take them out of those first.",
            queues=member_of,
        )
    held = (await uow.assignments.loads([name])).get(name, 0)
    if held:
        raise InUse(f"Agent {name!r} holds {held} open incidents; set them away first.", open_incidents=held)
    await uow.agents.remove(row)


async def _hand_out_in_queues_of(
    uow: RouterUnitOfWork, deps: RouterDeps, catalog: Catalog, agent: str
) -> None:
    for queue in catalog.queues:
        if agent in queue.agents:
            await hand_out_waiting(uow, deps, catalog, queue)
