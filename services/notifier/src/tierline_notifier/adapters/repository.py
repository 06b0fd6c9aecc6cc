"""The notifier's storage: the directory (catalogs), incident views, and the notification log."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_notifier.adapters.orm import IncidentViewRow, NotificationRow, PersonRow, TeamRow
from tierline_notifier.domain.directory import Person, Team
from tierline_notifier.domain.incident import IncidentView
from tierline_shared.catalog import repository, resource
from tierline_shared.db import Repository
from tierline_shared.pagination import newest_first


def _spec(item: Person | Team) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude={"name"})


def _resource(row: type[Any], item: type[Any], what: str) -> resource.Resource[Any, Any]:
    return resource.Resource(
        row=row,
        what=what,
        article="a",
        item_of=lambda r: item.model_validate({**r.spec, "name": r.name}),
        columns=lambda entry: {"spec": _spec(entry)},
    )


PEOPLE: resource.Resource[PersonRow, Person] = _resource(PersonRow, Person, "person")
TEAMS: resource.Resource[TeamRow, Team] = _resource(TeamRow, Team, "team")


def people(session: AsyncSession) -> resource.Catalog[PersonRow, Person]:
    return resource.Catalog(PEOPLE, repository.CatalogRepository(session, PersonRow, what="person"))


def teams(session: AsyncSession) -> resource.Catalog[TeamRow, Team]:
    return resource.Catalog(TEAMS, repository.CatalogRepository(session, TeamRow, what="team"))


class Directory:
    """People and teams read by name, for deciding who hears of an event."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def people(self, names: Iterable[str]) -> dict[str, Person]:
        wanted = set(names)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(PersonRow).where(PersonRow.name.in_(wanted)))
        return {row.name: PEOPLE.item_of(row) for row in rows}

    async def teams(self, names: Iterable[str]) -> dict[str, Team]:
        wanted = set(names)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(TeamRow).where(TeamRow.name.in_(wanted)))
        return {row.name: TEAMS.item_of(row) for row in rows}


class IncidentViews:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, incident_id: uuid.UUID) -> IncidentView:
        """The incident as the events so far tell it (an empty view before the first)."""
        data = await self.session.scalar(
            select(IncidentViewRow.data).where(IncidentViewRow.incident_id == incident_id)
        )
        return IncidentView.from_data(data) if data is not None else IncidentView(incident_id=incident_id)

    async def many(self, incident_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, IncidentView]:
        rows = await self.session.execute(
            select(IncidentViewRow.incident_id, IncidentViewRow.data).where(
                IncidentViewRow.incident_id.in_(set(incident_ids))
            )
        )
        return {incident_id: IncidentView.from_data(data) for incident_id, data in rows.all()}

    async def save(self, view: IncidentView, now: datetime) -> None:
        values = {"data": view.to_data(), "updated_at": now}
        await self.session.execute(
            insert(IncidentViewRow)
            .values(incident_id=view.incident_id, **values)
            .on_conflict_do_update(index_elements=[IncidentViewRow.incident_id], set_=values)
        )


@dataclass(frozen=True)
class Claimed:
    """A message a sender holds for one attempt (``attempts`` counts this one)."""

    id: uuid.UUID
    incident_id: uuid.UUID
    kind: str
    role: str
    recipient: str
    contact: str
    channel: str
    target: str
    attempts: int
    facts: Mapping[str, Any]


class Notifications(Repository[NotificationRow]):
    model = NotificationRow

    async def add_all(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert the messages owed; one already recorded for its (event, recipient, contact) is not
        owed twice. How many were new."""
        if not rows:
            return 0
        made = await self.session.scalars(
            insert(NotificationRow)
            .values(list(rows))
            .on_conflict_do_nothing(constraint="uq_notifications_once")
            .returning(NotificationRow.id)
        )
        return len(made.all())

    async def cancel_pending(self, incident_id: uuid.UUID, kinds: Sequence[str], now: datetime) -> int:
        """Drop the messages of ``kinds`` not yet sent nor in flight (the incident was acknowledged)."""
        result = await self.session.execute(
            update(NotificationRow)
            .where(
                NotificationRow.incident_id == incident_id,
                NotificationRow.status == "pending",
                NotificationRow.kind.in_(kinds),
                (NotificationRow.leased_until.is_(None)) | (NotificationRow.leased_until < now),
            )
            .values(status="cancelled", last_error="the incident was acknowledged", leased_until=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
        """Lease up to ``limit`` due messages no other sender holds (SKIP LOCKED), counting the attempt."""
        due = (
            select(NotificationRow.id)
            .where(
                NotificationRow.status == "pending",
                NotificationRow.next_attempt_at <= now,
                (NotificationRow.leased_until.is_(None)) | (NotificationRow.leased_until < now),
            )
            .order_by(NotificationRow.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = await self.session.execute(
            update(NotificationRow)
            .where(NotificationRow.id.in_(due.scalar_subquery()))
            .values(leased_until=now + lease, attempts=NotificationRow.attempts + 1)
            .returning(
                NotificationRow.id,
                NotificationRow.incident_id,
                NotificationRow.kind,
                NotificationRow.role,
                NotificationRow.recipient,
                NotificationRow.contact,
                NotificationRow.channel,
                NotificationRow.target,
                NotificationRow.attempts,
                NotificationRow.facts,
            )
        )
        return [Claimed(**row._mapping) for row in rows]

    async def record(self, notification_id: uuid.UUID, **values: Any) -> None:
        """Write an attempt's outcome and free the lease."""
        await self.session.execute(
            update(NotificationRow)
            .where(NotificationRow.id == notification_id)
            .values(leased_until=None, **values)
        )

    async def page(
        self, where: Sequence[Any], *, limit: int, cursor: str | None
    ) -> tuple[list[NotificationRow], str | None]:
        return await newest_first(
            self.session, select(NotificationRow).where(*where), NotificationRow, limit=limit, cursor=cursor
        )

    async def counts(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(NotificationRow.status, func.count()).group_by(NotificationRow.status)
        )
        return {status: count for status, count in rows.all()}
