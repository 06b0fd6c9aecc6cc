"""Placing incidents inside a tier: route a new one, hand waiting ones out, move an absent agent's work.

Every use case first takes the router's advisory lock (``RouterUnitOfWork.lock_routing``), so
replicas (and a breach racing a manual escalation) make routing decisions one at a time against
the same queue positions and agent loads: nobody is assigned past capacity and no incident
moves twice. Helpers called from inside a locked use case do not lock again.
"""

from __future__ import annotations

from datetime import datetime

from tierline_router import metrics
from tierline_router.domain.assignment import Assignment
from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import EscalationPolicy, Queue, Subject, policy_for, queue_for
from tierline_router.domain.strategies import pick_agent
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.events import IncidentAssigned, IncidentCreated
from tierline_shared.events.routing import AssignmentReason


def policy_of(catalog: Catalog, assignment: Assignment) -> EscalationPolicy:
    """The policy the incident runs on; if that one was deleted, the one that matches it now."""
    return catalog.policy_of(assignment.policy, assignment.subject)


async def choose_agent(
    uow: RouterUnitOfWork, catalog: Catalog, queue: Queue, subject: Subject, now: datetime | None = None
) -> str | None:
    """Who in ``queue`` takes the incident at ``now`` (None: nobody can); the queue's rotation moves on.

    ``now`` decides who a queue's schedule has on call; unsaid, the unit of work's clock tells.
    """
    position = await uow.catalog.rotation(queue.name)
    if position is None:
        return None
    at = now if now is not None or queue.schedule is None else uow.now()
    members = catalog.candidates(queue, await uow.assignments.loads(queue.agents), at)
    pick = pick_agent(queue, members, position, subject)
    await uow.catalog.turn(queue.name, pick.position)
    return pick.agent


async def announce_assigned(uow: RouterUnitOfWork, assigned: IncidentAssigned) -> None:
    await uow.announce(assigned)
    uow.after_commit(
        lambda: metrics.assigned(assigned.tier, assigned.reason, waiting=assigned.assignee is None)
    )


async def assign_new_incident(uow: RouterUnitOfWork, deps: RouterDeps, event: IncidentCreated) -> None:
    await uow.lock_routing()
    if await uow.assignments.load(event.incident_id) is not None:
        return
    catalog = await uow.catalog.load()
    subject = Subject(
        service=event.service, category=event.category, priority=event.priority, product=event.product
    )
    policy = policy_for(catalog.policies, subject)
    now = deps.clock.now()
    assignment = Assignment.open(event.incident_id, subject, policy, now)
    queue = queue_for(catalog.queues, assignment.tier, subject)
    agent = await choose_agent(uow, catalog, queue, subject, now)
    assigned = assignment.assign(queue.name, agent, policy, reason="routed", now=now)
    uow.assignments.save(assignment)
    await announce_assigned(uow, assigned)


async def hand_out_waiting(uow: RouterUnitOfWork, deps: RouterDeps, catalog: Catalog, queue: Queue) -> int:
    """Give waiting incidents to whoever in ``queue`` can take one now; returns how many went."""
    handed = 0
    for assignment in await uow.assignments.waiting_in(queue.name):
        policy = policy_of(catalog, assignment)
        now = deps.clock.now()
        agent = await choose_agent(uow, catalog, queue, assignment.subject, now)
        if agent is None:
            break
        assigned = assignment.assign(queue.name, agent, policy, reason="dequeued", now=now)
        uow.assignments.save(assignment)
        handed += 1
        await announce_assigned(uow, assigned)
    return handed


async def hand_out_freed(uow: RouterUnitOfWork, deps: RouterDeps, catalog: Catalog, agent: str) -> None:
    """``agent`` has room again: every queue they work hands out what waits there."""
    for queue in catalog.queues_of(agent):
        await hand_out_waiting(uow, deps, catalog, queue)


async def reassign_held(
    uow: RouterUnitOfWork,
    deps: RouterDeps,
    catalog: Catalog,
    agent: str,
    queue: str | None = None,
    *,
    reason: AssignmentReason = "reassigned",
) -> int:
    """The agent went away, left ``queue`` or went off shift: their open incidents go to someone else,
    or wait."""
    moved = 0
    for assignment in await uow.assignments.held_by(agent, queue):
        home = catalog.queue(assignment.queue)
        if home is None:
            continue
        policy = policy_of(catalog, assignment)
        now = deps.clock.now()
        assignment.unassign(now)
        uow.assignments.save(assignment)  # the agent's load no longer counts it
        chosen = await choose_agent(uow, catalog, home, assignment.subject, now)
        assigned = assignment.assign(home.name, chosen, policy, reason=reason, now=now)
        uow.assignments.save(assignment)
        await announce_assigned(uow, assigned)
        moved += 1
    return moved
