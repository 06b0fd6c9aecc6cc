"""Escalation policies through the admin API, each placed in the match order.

The use cases have the standard names the catalog's routes call (list_all, get, create, replace, delete).
"""

from __future__ import annotations

from tierline_router.domain.model import EscalationPolicy
from tierline_router.service_layer import admin
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared import ranking
from tierline_shared.catalog.resource import Listed


async def create(
    uow: RouterUnitOfWork, deps: RouterDeps, policy: EscalationPolicy, placement: ranking.Placement
) -> Listed[EscalationPolicy]:
    """Add a policy at its place in the match order (unsaid: last, with a warning)."""
    await uow.lock_routing()
    await uow.policies.absent(policy.name)
    row = await uow.policies.add(policy, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(uow)
    is_placed_last = not placement.is_given
    return uow.policies.view(
        row, uow.policies.warnings(catalog.policies, policy.name, is_placed_last=is_placed_last)
    )


async def replace(
    uow: RouterUnitOfWork, deps: RouterDeps, policy: EscalationPolicy, placement: ranking.Placement
) -> Listed[EscalationPolicy]:
    """Replace a policy; unplaced, it keeps its rank. Its incidents use the new ladder from the next move."""
    await uow.lock_routing()
    row = await uow.policies.found(policy.name)
    await uow.policies.replace(row, policy, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(uow)
    return uow.policies.view(row, uow.policies.warnings(catalog.policies, policy.name, is_placed_last=False))


async def get(uow: RouterUnitOfWork, name: str) -> Listed[EscalationPolicy]:
    return await uow.policies.get(name)


async def list_all(uow: RouterUnitOfWork) -> list[Listed[EscalationPolicy]]:
    """Every escalation policy in match order."""
    return await uow.policies.list_all()


async def delete(uow: RouterUnitOfWork, name: str) -> None:
    """Incidents on a deleted policy continue on whichever policy matches them."""
    await uow.lock_routing()
    await uow.policies.remove(await uow.policies.found(name))
    await admin.checked_catalog(uow)
