"""Queues through the admin API: each placed in its tier's match order, changes moving work at once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import AssignmentRow
from tierline_router.adapters.repository import ACTIVE, Catalog
from tierline_router.domain.model import Queue
from tierline_router.service_layer import admin
from tierline_router.service_layer.routing import RouterDeps, hand_out_waiting, lock_routing, reassign_held
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


async def create_queue(
    session: AsyncSession, deps: RouterDeps, queue: Queue, placement: ranking.Placement
) -> Listed[Queue]:
    """Add a queue at its place among its tier's queues (unsaid: last, with a warning)."""
    await lock_routing(session)
    queues = admin.queues(session)
    await queues.absent(queue.name)
    _check_members(await repo.load_catalog(session), queue)
    row = await queues.add(queue, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(session)
    await hand_out_waiting(session, deps, catalog, queue)
    return queues.view(
        row, queues.warnings(catalog.queues, queue.name, is_placed_last=not placement.is_given)
    )


async def _open_in(session: AsyncSession, queue: str) -> int:
    count = await session.scalar(
        select(func.count()).where(AssignmentRow.status == ACTIVE, AssignmentRow.queue == queue)
    )
    return count or 0


async def update_queue(
    session: AsyncSession, deps: RouterDeps, queue: Queue, placement: ranking.Placement
) -> Listed[Queue]:
    """Replace a queue; members taken out hand their incidents in it to the rest.

    Unplaced, it keeps its rank; moved to another tier, it goes last there (with a warning).
    """
    await lock_routing(session)
    queues = admin.queues(session)
    row = await queues.found(queue.name)
    _check_members(await repo.load_catalog(session), queue)
    if queue.tier != row.tier and await _open_in(session, queue.name):
        raise admin.InUse(
            f"Queue {queue.name!r} holds open incidents at {row.tier}; it cannot move to {queue.tier}.",
            tier=row.tier,
        )
    removed = [a for a in row.spec.get("agents", []) if a not in queue.agents]
    is_moved = await queues.replace(row, queue, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(session)
    for agent in removed:
        await reassign_held(session, deps, catalog, agent, queue.name)
    await hand_out_waiting(session, deps, catalog, queue)
    is_placed_last = is_moved and not placement.is_given
    return queues.view(row, queues.warnings(catalog.queues, queue.name, is_placed_last=is_placed_last))


async def get_queue(session: AsyncSession, name: str) -> Listed[Queue]:
    return await admin.queues(session).get(name)


async def list_queues(session: AsyncSession) -> list[Listed[Queue]]:
    """Every queue in match order: by tier, then rank."""
    return await admin.queues(session).list_all()


async def counts(session: AsyncSession) -> dict[str, tuple[int, int]]:
    """Per queue: (incidents held by an agent, incidents waiting for one)."""
    return await repo.queue_counts(session)


async def delete_queue(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    await lock_routing(session)
    queues = admin.queues(session)
    row = await queues.found(name)
    open_incidents = await _open_in(session, name)
    if open_incidents:
        raise admin.InUse(
            f"Queue {name!r} holds {open_incidents} open incidents; move or resolve them first.",
            open_incidents=open_incidents,
        )
    await queues.remove(row)
    await admin.checked_catalog(session)
