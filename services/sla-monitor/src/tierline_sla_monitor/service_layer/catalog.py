"""Managing SLA policies and calendars: from the policy file at start, or the admin API.

Every change is checked against the whole catalog under one advisory lock, so no edit leaves
a priority without a policy or a policy naming a missing calendar. Running clocks keep the
target they started with; a priority change re-targets them against the policies of the moment.
Policies are matched in rank order (1, 2, 3 …, no gaps); every change renumbers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import ranking
from tierline_shared.db import advisory_xact_lock, get_or_404
from tierline_shared.errors import AlreadyExists, IncompleteConfiguration, InvalidInput, NotFound
from tierline_shared.logging import get_logger
from tierline_sla_monitor.adapters import repository as repo
from tierline_sla_monitor.adapters.orm import CalendarRow, PolicyRow
from tierline_sla_monitor.domain.calendar import TWENTY_FOUR_SEVEN, Calendar
from tierline_sla_monitor.domain.policy import FILTER_UNIVERSES, SlaConfig, SlaPolicy, config_problem

_log = get_logger(__name__)
CATALOG_LOCK = "tierline.sla.catalog"
CONFIG, API = "config", "api"
POLICY = "SLA policy"
Row = TypeVar("Row", PolicyRow, CalendarRow)
WHAT = {PolicyRow: "SLA policy", CalendarRow: "calendar"}


def _policy_spec(policy: SlaPolicy) -> dict[str, object]:
    return policy.model_dump(mode="json", exclude={"name"})


def _calendar_spec(calendar: Calendar) -> dict[str, object]:
    return calendar.model_dump(mode="json", exclude={"name"})


async def _checked(session: AsyncSession) -> repo.Catalog:
    await session.flush()
    catalog = await repo.load_catalog(session)
    problem = config_problem(catalog.calendars, catalog.policies)
    if problem:
        raise IncompleteConfiguration(f"The change is refused: {problem}.")
    return catalog


def _entries(policies: Sequence[SlaPolicy]) -> list[ranking.Entry]:
    return [ranking.Entry(p.name, p.filters) for p in policies]


async def apply_config(session: AsyncSession, config: SlaConfig, now: datetime) -> None:
    """Make the database hold what the policy file declares (what the API made stays).

    The file's policies take the file's order; those made through the API keep their place
    relative to the file's policies (see ``ranking.reapply``).
    """
    await advisory_xact_lock(session, CATALOG_LOCK)
    before = [row.name for row in await repo.policy_rows(session)]
    for calendar in config.calendars:
        values = {"spec": _calendar_spec(calendar), "managed_by": CONFIG, "updated_at": now}
        await session.execute(
            insert(CalendarRow)
            .values(name=calendar.name, **values)
            .on_conflict_do_update(index_elements=[CalendarRow.name], set_=values)
        )
    for policy in config.policies:
        values = {"spec": _policy_spec(policy), "managed_by": CONFIG, "updated_at": now}
        await session.execute(
            insert(PolicyRow)  # rank 0 until renumbered below
            .values(name=policy.name, rank=0, **values)
            .on_conflict_do_update(index_elements=[PolicyRow.name], set_=values)
        )
    session.expire_all()
    order = ranking.reapply(before, [p.name for p in config.policies])
    ranking.renumber(await repo.policy_rows(session), order)
    await _checked(session)
    for ranked in await list_policies(session):
        for warning in ranked.warnings:
            _log.warning("catalog_entry_never_reached", entry=ranked.item.name, detail=warning.detail)
    _log.info("sla_config_applied", calendars=len(config.calendars), policies=len(config.policies))


async def _found(session: AsyncSession, model: type[Row], name: str, *, lock: bool = True) -> Row:
    return await get_or_404(session, model, name, WHAT[model], lock=lock)


async def list_policies(session: AsyncSession) -> list[ranking.Ranked[PolicyRow]]:
    """Policies in match order, each with the warnings its place earns."""
    rows = await repo.policy_rows(session)
    notes = ranking.review(_entries([repo.policy_of(r) for r in rows]), FILTER_UNIVERSES, what=POLICY)
    return [ranking.Ranked(row, notes[row.name]) for row in rows]


async def get_policy(session: AsyncSession, name: str) -> ranking.Ranked[PolicyRow]:
    await _found(session, PolicyRow, name, lock=False)
    return next(r for r in await list_policies(session) if r.item.name == name)


async def put_policy(
    session: AsyncSession, policy: SlaPolicy, placement: ranking.Placement, now: datetime, *, create: bool
) -> ranking.Ranked[PolicyRow]:
    """Create (``create``) or replace a policy at its place; clocks already running keep their targets.

    Unplaced, a new policy goes last (with a warning) and a replaced one keeps its rank.
    """
    await advisory_xact_lock(session, CATALOG_LOCK)
    known = {c.name for c in (await repo.load_catalog(session)).calendars} | {TWENTY_FOUR_SEVEN}
    if policy.calendar not in known:
        raise InvalidInput(
            f"calendar: no calendar {policy.calendar!r}; create it first or use {TWENTY_FOUR_SEVEN!r}.",
            errors=[
                {
                    "field": "calendar",
                    "reason": f"unknown calendar {policy.calendar!r}",
                    "pointer": "/calendar",
                }
            ],
        )
    row = await session.get(PolicyRow, policy.name, with_for_update=True)
    if create and row is not None:
        raise AlreadyExists(f"An SLA policy named {policy.name!r} exists.", name=policy.name)
    if row is None and not create:
        raise NotFound(f"There is no SLA policy {policy.name!r}.", name=policy.name)
    rows = await repo.policy_rows(session)
    order = ranking.place([r.name for r in rows], policy.name, placement, what=POLICY)
    if row is None:
        row = PolicyRow(name=policy.name, rank=0, managed_by=API)
        session.add(row)
        rows.append(row)
    row.spec, row.updated_at = _policy_spec(policy), now
    ranking.renumber(rows, order)
    catalog = await _checked(session)
    warnings = ranking.placement_warnings(
        _entries(catalog.policies),
        policy.name,
        FILTER_UNIVERSES,
        what=POLICY,
        is_placed_last=create and not placement.is_given,
    )
    return ranking.Ranked(row, warnings)


async def delete_policy(session: AsyncSession, name: str) -> None:
    await advisory_xact_lock(session, CATALOG_LOCK)
    row = await _found(session, PolicyRow, name)
    left = [r for r in await repo.policy_rows(session) if r.name != name]
    await session.delete(row)
    ranking.renumber(left, [r.name for r in left])
    await _checked(session)


async def list_calendars(session: AsyncSession) -> Sequence[CalendarRow]:
    return (await session.scalars(select(CalendarRow).order_by(CalendarRow.name))).all()


async def get_calendar(session: AsyncSession, name: str) -> CalendarRow:
    return await _found(session, CalendarRow, name, lock=False)


async def put_calendar(
    session: AsyncSession, calendar: Calendar, now: datetime, *, create: bool
) -> CalendarRow:
    """Create or replace a calendar; running clocks follow it from their next change or warning."""
    await advisory_xact_lock(session, CATALOG_LOCK)
    row = await session.get(CalendarRow, calendar.name, with_for_update=True)
    if create and row is not None:
        raise AlreadyExists(f"A calendar named {calendar.name!r} exists.", name=calendar.name)
    if row is None:
        if not create:
            raise NotFound(f"There is no calendar {calendar.name!r}.", name=calendar.name)
        row = CalendarRow(name=calendar.name, managed_by=API)
        session.add(row)
    row.spec, row.updated_at = _calendar_spec(calendar), now
    await _checked(session)
    return row


async def delete_calendar(session: AsyncSession, name: str) -> None:
    await advisory_xact_lock(session, CATALOG_LOCK)
    await session.delete(await _found(session, CalendarRow, name))
    await _checked(session)
