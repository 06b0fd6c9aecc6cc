"""Queues through the admin API: each placed in its tier's match order, changes moving work at once.

The use cases have the standard names the catalog's routes call (list_all, get, create, replace, delete).
"""

from __future__ import annotations

from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import Queue
from tierline_router.service_layer import admin, schedules
from tierline_router.service_layer.handover import reconcile_queue
from tierline_router.service_layer.placement import hand_out_waiting, reassign_held
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared import ranking
from tierline_shared.catalog.resource import Listed
from tierline_shared.errors import InvalidInput


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


async def create(
    uow: RouterUnitOfWork, deps: RouterDeps, queue: Queue, placement: ranking.Placement
) -> Listed[Queue]:
    """Add a queue at its place among its tier's queues (unsaid: last, with a warning)."""
    await uow.lock_routing()
    await uow.queues.absent(queue.name)
    catalog = await uow.catalog.load()
    _check_members(catalog, queue)
    schedules.check_queue(catalog, queue, deps.clock.now())
    row = await uow.queues.add(queue, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(uow)
    await reconcile_queue(uow, deps, catalog, queue, None)
    await hand_out_waiting(uow, deps, catalog, queue)
    return uow.queues.view(
        row, uow.queues.warnings(catalog.queues, queue.name, is_placed_last=not placement.is_given)
    )


async def replace(
    uow: RouterUnitOfWork, deps: RouterDeps, queue: Queue, placement: ranking.Placement
) -> Listed[Queue]:
    """Replace a queue; members taken out hand their incidents in it to the rest.

    Unplaced, it keeps its rank; moved to another tier, it goes last there (with a warning).
    Given a schedule, another schedule or ``reassign``, it is reconciled with who is on call
    now (``handover.reconcile_queue``).
    """
    await uow.lock_routing()
    row = await uow.queues.found(queue.name)
    catalog = await uow.catalog.load()
    before = catalog.queue(queue.name)
    _check_members(catalog, queue)
    schedules.check_queue(catalog, queue, deps.clock.now())
    if queue.tier != row.tier and await uow.assignments.open_in(queue.name):
        raise admin.InUse(
            f"Queue {queue.name!r} holds open incidents at {row.tier}; it cannot move to {queue.tier}.",
            tier=row.tier,
        )
    removed = [a for a in row.spec.get("agents", []) if a not in queue.agents]
    is_moved = await uow.queues.replace(row, queue, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(uow)
    for agent in removed:
        await reassign_held(uow, deps, catalog, agent, queue.name)
    await reconcile_queue(uow, deps, catalog, queue, before)
    await hand_out_waiting(uow, deps, catalog, queue)
    is_placed_last = is_moved and not placement.is_given
    return uow.queues.view(
        row, uow.queues.warnings(catalog.queues, queue.name, is_placed_last=is_placed_last)
    )


async def get(uow: RouterUnitOfWork, name: str) -> Listed[Queue]:
    return await uow.queues.get(name)


async def list_all(uow: RouterUnitOfWork) -> list[Listed[Queue]]:
    """Every queue in match order: by tier, then rank."""
    return await uow.queues.list_all()


async def counts(uow: RouterUnitOfWork) -> dict[str, tuple[int, int]]:
    """Per queue: (incidents held by an agent, incidents waiting for one)."""
    return await uow.assignments.queue_counts()


async def delete(uow: RouterUnitOfWork, name: str) -> None:
    await uow.lock_routing()
    row = await uow.queues.found(name)
    open_incidents = await uow.assignments.open_in(name)
    if open_incidents:
        raise admin.InUse(
            f"Queue {name!r} holds {open_incidents} open incidents; move or resolve them first.",
            open_incidents=open_incidents,
        )
    await uow.queues.remove(row)
    await admin.checked_catalog(uow)
