"""Where queues and escalation policies sit in their match order, and what their place earns them.

A queue is ranked among the queues of its own tier, a policy among all policies; ranks run
1, 2, 3 … with no gaps, and every change renumbers its list inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import PolicyRow, QueueRow
from tierline_router.domain.model import FILTER_UNIVERSES, HUMAN_TIERS, EscalationPolicy, Queue
from tierline_shared import ranking
from tierline_shared.logging import get_logger

_log = get_logger(__name__)
POLICY = "escalation policy"


def queue_kind(tier: str) -> str:
    """How messages name a queue: by its tier, the list it is ordered in."""
    return f"{tier} queue"


def queue_entries(queues: Sequence[Queue]) -> list[ranking.Entry]:
    return [ranking.Entry(q.name, q.filters) for q in queues]


def policy_entries(policies: Sequence[EscalationPolicy]) -> list[ranking.Entry]:
    return [ranking.Entry(p.name, p.filters) for p in policies]


def queue_warnings(
    queues: Sequence[Queue], name: str, *, is_placed_last: bool
) -> tuple[ranking.CatalogWarning, ...]:
    """Warnings for queue ``name`` just written; ``queues``: the whole catalog, in match order."""
    tier = next(q.tier for q in queues if q.name == name)
    return ranking.placement_warnings(
        queue_entries([q for q in queues if q.tier == tier]),
        name,
        FILTER_UNIVERSES,
        what=queue_kind(tier),
        is_placed_last=is_placed_last,
    )


def policy_warnings(
    policies: Sequence[EscalationPolicy], name: str, *, is_placed_last: bool
) -> tuple[ranking.CatalogWarning, ...]:
    return ranking.placement_warnings(
        policy_entries(policies), name, FILTER_UNIVERSES, what=POLICY, is_placed_last=is_placed_last
    )


async def ranked_queues(session: AsyncSession, tier: str | None = None) -> list[ranking.Ranked[QueueRow]]:
    """Queues in match order (by tier), each with the warnings its place earns."""
    rows = await repo.queue_rows(session, tier)
    notes: dict[str, tuple[ranking.CatalogWarning, ...]] = {}
    for each in HUMAN_TIERS:
        in_tier = [repo.queue_of(r) for r in rows if r.tier == each]
        notes |= ranking.review(queue_entries(in_tier), FILTER_UNIVERSES, what=queue_kind(each))
    return [ranking.Ranked(row, notes.get(row.name, ())) for row in rows]


async def ranked_policies(session: AsyncSession) -> list[ranking.Ranked[PolicyRow]]:
    """Escalation policies in match order, each with the warnings its place earns."""
    rows = await repo.policy_rows(session)
    notes = ranking.review(policy_entries([repo.policy_of(r) for r in rows]), FILTER_UNIVERSES, what=POLICY)
    return [ranking.Ranked(row, notes[row.name]) for row in rows]


@dataclass(frozen=True)
class Orders:
    """The match orders as they stood before the policy file was applied again."""

    queues: dict[str, list[str]]  # by tier
    policies: list[str]


async def current_orders(session: AsyncSession) -> Orders:
    queues: dict[str, list[str]] = {}
    for row in await repo.queue_rows(session):
        queues.setdefault(row.tier, []).append(row.name)
    return Orders(queues=queues, policies=[row.name for row in await repo.policy_rows(session)])


async def reapply_file_order(
    session: AsyncSession, before: Orders, queues: Sequence[Queue], policies: Sequence[EscalationPolicy]
) -> None:
    """After the file's entries are written: the file's order for them, API-made ones where they were."""
    for tier in HUMAN_TIERS:
        declared = [q.name for q in queues if q.tier == tier]
        elsewhere = {q.name for q in queues if q.tier != tier}
        current = [name for name in before.queues.get(tier, []) if name not in elsewhere]
        ranking.renumber(await repo.queue_rows(session, tier), ranking.reapply(current, declared))
    declared = [p.name for p in policies]
    ranking.renumber(await repo.policy_rows(session), ranking.reapply(before.policies, declared))
    await session.flush()
    for ranked in [*await ranked_queues(session), *await ranked_policies(session)]:
        for warning in ranked.warnings:
            _log.warning("catalog_entry_never_reached", entry=ranked.item.name, detail=warning.detail)
