"""An incident's edit may change its policy, queue or budgets: the router applies them again."""

from __future__ import annotations

from tierline_router.domain.model import policy_for, queue_for
from tierline_router.service_layer.escalation import move
from tierline_router.service_layer.placement import announce_assigned, choose_agent, hand_out_freed, policy_of
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.events import IncidentUpdated


async def apply_update(uow: RouterUnitOfWork, deps: RouterDeps, event: IncidentUpdated) -> None:
    """An edit may change the incident's policy, queue or budgets: re-apply them."""
    await uow.lock_routing()
    assignment = await uow.assignments.load(event.incident_id, lock=True)
    if assignment is None:
        return
    now = deps.clock.now()
    catalog = await uow.catalog.load()
    old_policy = policy_of(catalog, assignment)
    is_routed_again = assignment.revise(
        priority=event.priority,
        service=event.service,
        category=event.category,
        product=event.product,
        is_product_changed="product" in event.changes,
        now=now,
    )
    uow.assignments.save(assignment)
    if not is_routed_again:
        return
    subject = assignment.subject
    policy = policy_for(catalog.policies, subject)
    entry_tier = assignment.adopt(policy)
    uow.assignments.save(assignment)
    if entry_tier is not None:
        # the new priority's ladder starts higher (a P1 may skip the service desk)
        await move(uow, deps, catalog, assignment, entry_tier, reason="priority_change")
        return
    queue = queue_for(catalog.queues, assignment.tier, subject)
    if queue.name != assignment.queue:
        previous = assignment.unassign(now)
        uow.assignments.save(assignment)  # the agent's load no longer counts it
        agent = await choose_agent(uow, catalog, queue, subject, now)
        assigned = assignment.assign(queue.name, agent, policy, reason="rerouted", now=now)
        uow.assignments.save(assignment)
        await announce_assigned(uow, assigned)
        if previous:
            await hand_out_freed(uow, deps, catalog, previous)
        return
    retimed = assignment.retime(policy, old_policy, now)
    uow.assignments.save(assignment)
    if retimed is not None:
        await announce_assigned(uow, retimed)
