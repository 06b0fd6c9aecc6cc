"""Escalation policies through the admin API, each placed in the match order."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import PolicyRow
from tierline_router.domain.model import EscalationPolicy
from tierline_router.service_layer import admin, ordering
from tierline_router.service_layer.routing import RouterDeps, lock_routing
from tierline_shared import ranking
from tierline_shared.errors import AlreadyExists


async def create_policy(
    session: AsyncSession, deps: RouterDeps, policy: EscalationPolicy, placement: ranking.Placement
) -> ranking.Ranked[PolicyRow]:
    """Add a policy at its place in the match order (unsaid: last, with a warning)."""
    await lock_routing(session)
    if await session.get(PolicyRow, policy.name) is not None:
        raise AlreadyExists(f"An escalation policy named {policy.name!r} exists.", name=policy.name)
    rows = await repo.policy_rows(session)
    order = ranking.place([r.name for r in rows], policy.name, placement, what=ordering.POLICY)
    now = deps.clock.now()
    row = PolicyRow(
        name=policy.name,
        rank=0,
        spec=admin.policy_spec(policy),
        managed_by=admin.API,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    ranking.renumber([*rows, row], order)
    catalog = await admin.checked_catalog(session)
    warnings = ordering.policy_warnings(catalog.policies, policy.name, is_placed_last=not placement.is_given)
    return ranking.Ranked(row, warnings)


async def update_policy(
    session: AsyncSession, deps: RouterDeps, policy: EscalationPolicy, placement: ranking.Placement
) -> ranking.Ranked[PolicyRow]:
    """Replace a policy; unplaced, it keeps its rank. Its incidents use the new ladder from the next move."""
    await lock_routing(session)
    row = await admin.found(session, PolicyRow, policy.name)
    rows = await repo.policy_rows(session)
    order = ranking.place([r.name for r in rows], policy.name, placement, what=ordering.POLICY)
    row.spec, row.updated_at = admin.policy_spec(policy), deps.clock.now()
    ranking.renumber(rows, order)
    catalog = await admin.checked_catalog(session)
    return ranking.Ranked(row, ordering.policy_warnings(catalog.policies, policy.name, is_placed_last=False))


async def get_policy(session: AsyncSession, name: str) -> ranking.Ranked[PolicyRow]:
    await admin.found(session, PolicyRow, name, lock=False)
    return next(r for r in await ordering.ranked_policies(session) if r.item.name == name)


async def list_policies(session: AsyncSession) -> list[ranking.Ranked[PolicyRow]]:
    """Every escalation policy in match order."""
    return await ordering.ranked_policies(session)


async def delete_policy(session: AsyncSession, deps: RouterDeps, name: str) -> None:
    """Incidents on a deleted policy continue on whichever policy matches them."""
    await lock_routing(session)
    row = await admin.found(session, PolicyRow, name)
    left = [r for r in await repo.policy_rows(session) if r.name != name]
    await session.delete(row)
    ranking.renumber(left, [r.name for r in left])
    await admin.checked_catalog(session)
