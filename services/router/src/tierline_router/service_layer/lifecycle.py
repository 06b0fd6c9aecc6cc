"""What the incident's own life does to its assignment: acknowledged, resolved, reopened."""

from __future__ import annotations

import uuid

from tierline_router.domain.model import queue_for
from tierline_router.service_layer.placement import announce_assigned, choose_agent, hand_out_freed, policy_of
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork


async def acknowledge(uow: RouterUnitOfWork, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    await uow.lock_routing()
    assignment = await uow.assignments.load(incident_id, lock=True)
    if assignment is None:
        return
    assignment.acknowledge(deps.clock.now())
    uow.assignments.save(assignment)


async def release(uow: RouterUnitOfWork, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    """Resolution: the assignment ends and the agent's capacity goes to whoever waits."""
    await uow.lock_routing()
    assignment = await uow.assignments.load(incident_id, lock=True)
    if assignment is None:
        return
    freed = assignment.release(deps.clock.now())
    uow.assignments.save(assignment)
    if freed:
        await hand_out_freed(uow, deps, await uow.catalog.load(), freed)


async def reactivate(uow: RouterUnitOfWork, deps: RouterDeps, incident_id: uuid.UUID) -> None:
    """A reopened incident goes back to the tier that had it, to the same agent if they can take it."""
    await uow.lock_routing()
    assignment = await uow.assignments.load(incident_id, lock=True)
    if assignment is None:
        return
    now = deps.clock.now()
    is_placed_again = assignment.reopen(now)
    uow.assignments.save(assignment)  # open again: its agent's load counts it
    if not is_placed_again:
        return
    catalog = await uow.catalog.load()
    policy = policy_of(catalog, assignment)
    subject = assignment.subject
    queue = catalog.queue(assignment.queue) or queue_for(catalog.queues, assignment.tier, subject)
    held = await uow.assignments.loads(queue.agents)
    members = {c.name: c for c in catalog.candidates(queue, held, now)}
    again = members.get(assignment.assignee) if assignment.assignee else None
    if again is not None and again.can_keep(frozenset(queue.skills)):
        agent = assignment.assignee
    else:
        assignment.unassign(now)
        uow.assignments.save(assignment)
        agent = await choose_agent(uow, catalog, queue, subject, now)
    assigned = assignment.assign(queue.name, agent, policy, reason="reopened", now=now)
    uow.assignments.save(assignment)
    await announce_assigned(uow, assigned)
