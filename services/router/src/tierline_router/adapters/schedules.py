"""On-call schedules as stored: the catalog resource of their specs, their overrides, their watch rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.adapters.orm import ScheduleOverrideRow, ScheduleRow, ScheduleWatchRow
from tierline_router.domain.schedules import MAX_RANGE, InvalidSchedule, Override, Schedule
from tierline_router.domain.schedules.spec import ScheduleSpec
from tierline_shared.catalog import repository, resource
from tierline_shared.errors import NotFound
from tierline_shared.logging import get_logger

_log = get_logger(__name__)


def spec_of(row: ScheduleRow) -> ScheduleSpec:
    return ScheduleSpec.model_validate({**row.spec, "name": row.name})


SCHEDULES = resource.Resource[ScheduleRow, ScheduleSpec](
    row=ScheduleRow,
    what="schedule",
    article="a",
    item_of=spec_of,
    columns=lambda s: {"spec": s.stored()},
)


def schedules(session: AsyncSession) -> resource.Catalog[ScheduleRow, ScheduleSpec]:
    return resource.Catalog(SCHEDULES, repository.CatalogRepository(session, ScheduleRow, what="schedule"))


@dataclass(frozen=True)
class StoredOverride:
    """An override as its API shows it."""

    id: uuid.UUID
    schedule: str
    person: str
    start: datetime
    end: datetime
    note: str | None
    created_by: str
    created_at: datetime

    def to_domain(self) -> Override:
        return Override(self.person, self.start, self.end)


def _override_of(row: ScheduleOverrideRow) -> StoredOverride:
    return StoredOverride(
        id=row.id,
        schedule=row.schedule,
        person=row.person,
        start=row.starts_at,
        end=row.ends_at,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class Watched:
    """A schedule's watch row: who the shift-change worker last saw on call, since when, and when it
    looks again."""

    schedule: str
    person: str | None
    since: datetime | None
    check_at: datetime


class ScheduleStore:
    """Overrides and watch rows of the schedules, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def overrides(
        self, schedule: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> list[StoredOverride]:
        """Overrides in the order they were made (a later one wins), only ``schedule``'s and only
        those overlapping [start, end) when given."""
        stmt = select(ScheduleOverrideRow).order_by(ScheduleOverrideRow.seq)
        if schedule is not None:
            stmt = stmt.where(ScheduleOverrideRow.schedule == schedule)
        if start is not None:
            stmt = stmt.where(ScheduleOverrideRow.ends_at > start)
        if end is not None:
            stmt = stmt.where(ScheduleOverrideRow.starts_at < end)
        return [_override_of(row) for row in (await self.session.scalars(stmt)).all()]

    async def add_override(self, override: StoredOverride) -> None:
        self.session.add(
            ScheduleOverrideRow(
                id=override.id,
                schedule=override.schedule,
                person=override.person,
                starts_at=override.start,
                ends_at=override.end,
                note=override.note,
                created_by=override.created_by,
                created_at=override.created_at,
            )
        )
        await self.session.flush()

    async def remove_override(self, schedule: str, override_id: uuid.UUID) -> None:
        """Delete the override; NotFound (404) naming it when the schedule has none with that id."""
        gone = await self.session.scalar(
            delete(ScheduleOverrideRow)
            .where(ScheduleOverrideRow.schedule == schedule, ScheduleOverrideRow.id == override_id)
            .returning(ScheduleOverrideRow.id)
        )
        if gone is None:
            raise NotFound(
                f"Schedule {schedule!r} has no override {override_id}.",
                schedule=schedule,
                override=str(override_id),
            )

    async def watch_now(self, schedule: str, now: datetime) -> None:
        """The shift-change worker looks at ``schedule`` again at once (its row made when new)."""
        await self.session.execute(
            insert(ScheduleWatchRow)
            .values(schedule=schedule, person=None, since=None, check_at=now)
            .on_conflict_do_update(index_elements=[ScheduleWatchRow.schedule], set_={"check_at": now})
        )

    async def unwatch(self, schedule: str) -> None:
        await self.session.execute(delete(ScheduleWatchRow).where(ScheduleWatchRow.schedule == schedule))

    async def watch(self, schedule: str) -> ScheduleWatchRow | None:
        return await self.session.get(ScheduleWatchRow, schedule)

    async def claim_due(self, now: datetime, limit: int) -> list[Watched]:
        """Up to ``limit`` watch rows due at ``now``, locked until the transaction ends; rows another
        transaction holds are skipped (it is looking at them)."""
        rows = await self.session.scalars(
            select(ScheduleWatchRow)
            .where(ScheduleWatchRow.check_at <= now)
            .order_by(ScheduleWatchRow.check_at, ScheduleWatchRow.schedule)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [Watched(r.schedule, r.person, r.since, r.check_at) for r in rows.all()]

    async def seen(self, watched: Watched) -> None:
        """Record who the worker saw on call (since when) and when it looks again."""
        await self.session.execute(
            update(ScheduleWatchRow)
            .where(ScheduleWatchRow.schedule == watched.schedule)
            .values(person=watched.person, since=watched.since, check_at=watched.check_at)
            .execution_options(synchronize_session=False)
        )


OVERRIDES_KEPT = MAX_RANGE  # overrides ended longer ago than this are not loaded


async def load_schedules(session: AsyncSession, now: datetime | None = None) -> dict[str, Schedule]:
    """Every schedule as the domain sees it, each with its overrides (a later one wins), validated.

    Only overrides ending after ``now - MAX_RANGE`` (400 days; ``now``: the wall clock when unsaid)
    are loaded: ``shifts`` refuses ranges longer than that, so older ones answer nothing asked of a
    catalog. A stored schedule that no longer validates (say, its zone is gone) is left out with an
    error log instead of stopping all routing: the queues naming it have nobody on call until it is
    fixed.
    """
    rows = (await session.scalars(select(ScheduleRow).order_by(ScheduleRow.name))).all()
    since = (now or datetime.now(UTC)) - OVERRIDES_KEPT
    overrides: dict[str, list[Override]] = {}
    for override in await ScheduleStore(session).overrides(start=since):
        overrides.setdefault(override.schedule, []).append(override.to_domain())
    loaded: dict[str, Schedule] = {}
    for row in rows:
        try:
            loaded[row.name] = spec_of(row).to_domain(overrides.get(row.name, ()))
        except (InvalidSchedule, ValidationError) as error:
            _log.error(
                "schedule_left_out",
                schedule=row.name,
                reason=str(error),
                consequence="the queues naming this schedule have nobody eligible until it is fixed",
            )
    return loaded
