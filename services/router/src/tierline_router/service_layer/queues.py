"""Queues through the admin API: each placed in its tier's match order, changes moving work at once."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import AssignmentRow, QueueRow
from tierline_router.adapters.repository import ACTIVE, Catalog
from tierline_router.domain.model import Queue
from tierline_router.service_layer import admin, ordering
from tierline_router.service_layer.routing import RouterDeps, hand_out_waiting, lock_routing, reassign_held
from tierline_shared import ranking
from tierline_shared.errors import AlreadyExists, InvalidInput


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
) -> ranking.Ranked[QueueRow]:
    """Add a queue at its place among its tier's queues (unsaid: last, with a warning)."""
    await lock_routing(session)
    if await session.get(QueueRow, queue.name) is not None:
        raise AlreadyExists(f"A queue named {queue.name!r} exists.", name=queue.name)
    catalog = await repo.load_catalog(session)
    _check_members(catalog, queue)
    in_tier = await repo.queue_rows(session, queue.tier)
    order = ranking.place(
        [r.name for r in in_tier], queue.name, placement, what=ordering.queue_kind(queue.tier)
    )
    now = deps.clock.now()
    row = QueueRow(
        name=queue.name,
        tier=queue.tier,
        rank=0,
        spec=admin.queue_spec(queue),
        position=0,
        managed_by=admin.API,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    ranking.renumber([*in_tier, row], order)
    catalog = await admin.checked_catalog(session)
    await hand_out_waiting(session, deps, catalog, queue)
    warnings = ordering.queue_warnings(catalog.queues, queue.name, is_placed_last=not placement.is_given)
    return ranking.Ranked(row, warnings)


async def _open_in(session: AsyncSession, queue: str) -> int:
    count = await session.scalar(
        select(func.count()).where(AssignmentRow.status == ACTIVE, AssignmentRow.queue == queue)
    )
    return count or 0


async def update_queue(
    session: AsyncSession, deps: RouterDeps, queue: Queue, placement: ranking.Placement
) -> ranking.Ranked[QueueRow]:
    """Replace a queue; members taken out hand their incidents in it to the rest.

    Unplaced, it keeps its rank; moved to another tier, it goes last there (with a warning).
    """
    await lock_routing(session)
    row = await admin.found(session, QueueRow, queue.name)
    catalog = await repo.load_catalog(session)
    _check_members(catalog, queue)
    is_moved = queue.tier != row.tier
    if is_moved and await _open_in(session, queue.name):
        raise admin.InUse(
            f"Queue {queue.name!r} holds open incidents at {row.tier}; it cannot move to {queue.tier}.",
            tier=row.tier,
        )
    in_tier = await repo.queue_rows(session, queue.tier)
    order = ranking.place(
        [r.name for r in in_tier], queue.name, placement, what=ordering.queue_kind(queue.tier)
    )
    left = [r for r in await repo.queue_rows(session, row.tier) if r.name != row.name] if is_moved else []
    removed = [a for a in row.spec.get("agents", []) if a not in queue.agents]
    row.tier, row.spec, row.updated_at = queue.tier, admin.queue_spec(queue), deps.clock.now()
    ranking.renumber([*in_tier, row] if is_moved else in_tier, order)
    ranking.renumber(left, [r.name for r in left])
    catalog = await admin.checked_catalog(session)
    for agent in removed:
        await reassign_held(session, deps, catalog, agent, queue.name)
    await hand_out_waiting(session, deps, catalog, queue)
    is_placed_last = is_moved and not placement.is_given
    return ranking.Ranked(
        row, ordering.queue_warnings(catalog.queues, queue.name, is_placed_last=is_placed_last)
    )


async def get_queue(session: AsyncSession, name: str) -> ranking.Ranked[QueueRow]:
    row = await admin.found(session, QueueRow, name, lock=False)
    return next(r for r in await ordering.ranked_queues(session, row.tier) if r.item.name == name)


async def list_queues(session: AsyncSession) -> list[ranking.Ranked[QueueRow]]:
    """Every queue in match order: by tier, then rank."""
    return await ordering.ranked_queues(session)


async def delete_queue(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    await lock_routing(session)
    row = await admin.found(session, QueueRow, name)
    open_incidents = await _open_in(session, name)
    if open_incidents:
        raise admin.InUse(
            f"Queue {name!r} holds {open_incidents} open incidents; move or resolve them first.",
            open_incidents=open_incidents,
        )
    left = [r for r in await repo.queue_rows(session, row.tier) if r.name != name]
    await session.delete(row)
    ranking.renumber(left, [r.name for r in left])
    await admin.checked_catalog(session)
