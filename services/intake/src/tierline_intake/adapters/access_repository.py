"""Intake's access records: API keys (it issues them for every service) and monitoring integrations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import ApiKeyPerson, IntegrationRow, api_keys
from tierline_shared.db import Repository

_people = ApiKeyPerson.metadata.tables["api_key_people"]


class IntegrationRepository(Repository[IntegrationRow]):
    model = IntegrationRow
    what = "integration"

    async def all(self) -> list[IntegrationRow]:
        """Every integration, oldest first."""
        return await self.find(order_by=(IntegrationRow.created_at,))

    async def active_with_key(self, key_hash: str, type_: str) -> IntegrationRow | None:
        row: IntegrationRow | None = await self.session.scalar(
            select(IntegrationRow).where(
                IntegrationRow.key_hash == key_hash,
                IntegrationRow.revoked_at.is_(None),
                IntegrationRow.type == type_,
            )
        )
        return row


class ApiKeyRepository:
    """The ``api_keys`` table (a Core table shared with the auth module, so no ORM class)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(
        self,
        *,
        key_id: uuid.UUID,
        name: str,
        key_hash: str,
        scopes: Sequence[str],
        created_at: datetime,
        person: str | None = None,
    ) -> None:
        """The key, and who works with it (intake's own record; the copies elsewhere have no person)."""
        await self.session.execute(
            api_keys.insert().values(
                id=key_id, name=name, key_hash=key_hash, scopes=scopes, created_at=created_at
            )
        )
        if person is not None:
            await self.session.execute(_people.insert().values(key_id=key_id, person=person))

    async def revoke(self, key_id: uuid.UUID, at: datetime) -> bool:
        """Revoke the key if it is active; False if it is not (unknown or already revoked)."""
        revoked = await self.session.scalar(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
            .returning(api_keys.c.id)
        )
        return revoked is not None

    async def exists(self, key_id: uuid.UUID) -> bool:
        return await self.session.scalar(select(api_keys.c.id).where(api_keys.c.id == key_id)) is not None

    async def all(self) -> Sequence[Row[Any]]:
        """Every key (its hash too; callers show what they choose) with its ``person``, oldest first."""
        return list(
            await self.session.execute(
                select(api_keys, _people.c.person)
                .outerjoin(_people, _people.c.key_id == api_keys.c.id)
                .order_by(api_keys.c.created_at)
            )
        )

    async def person_of(self, key_id: uuid.UUID) -> str | None:
        """Who works with the key, if its issuer said."""
        person: str | None = await self.session.scalar(
            select(_people.c.person).where(_people.c.key_id == key_id)
        )
        return person
