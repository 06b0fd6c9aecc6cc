"""Escalation policies through the admin API, each placed in the match order."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.domain.model import EscalationPolicy
from tierline_router.service_layer import admin
from tierline_router.service_layer.routing import RouterDeps, lock_routing
from tierline_shared import ranking
from tierline_shared.catalog.resource import Listed


async def create_policy(
    session: AsyncSession, deps: RouterDeps, policy: EscalationPolicy, placement: ranking.Placement
) -> Listed[EscalationPolicy]:
    """Add a policy at its place in the match order (unsaid: last, with a warning)."""
    await lock_routing(session)
    policies = admin.policies(session)
    await policies.absent(policy.name)
    row = await policies.add(policy, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(session)
    is_placed_last = not placement.is_given
    return policies.view(row, policies.warnings(catalog.policies, policy.name, is_placed_last=is_placed_last))


async def update_policy(
    session: AsyncSession, deps: RouterDeps, policy: EscalationPolicy, placement: ranking.Placement
) -> Listed[EscalationPolicy]:
    """Replace a policy; unplaced, it keeps its rank. Its incidents use the new ladder from the next move."""
    await lock_routing(session)
    policies = admin.policies(session)
    row = await policies.found(policy.name)
    await policies.replace(row, policy, deps.clock.now(), placement)
    catalog = await admin.checked_catalog(session)
    return policies.view(row, policies.warnings(catalog.policies, policy.name, is_placed_last=False))


async def get_policy(session: AsyncSession, name: str) -> Listed[EscalationPolicy]:
    return await admin.policies(session).get(name)


async def list_policies(session: AsyncSession) -> list[Listed[EscalationPolicy]]:
    """Every escalation policy in match order."""
    return await admin.policies(session).list_all()


async def delete_policy(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    """Incidents on a deleted policy continue on whichever policy matches them."""
    await lock_routing(session)
    policies = admin.policies(session)
    await policies.remove(await policies.found(name))
    await admin.checked_catalog(session)
