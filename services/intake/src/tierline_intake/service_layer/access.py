"""Issuing and revoking API keys: intake is the authority; the others copy hash and scopes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import api_keys
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.auth import generate_key, hash_key
from tierline_shared.errors import NotFound
from tierline_shared.events import ApiKeyCreated, ApiKeyRevoked


@dataclass(frozen=True)
class IssuedKey:
    id: uuid.UUID
    name: str
    scopes: list[str]
    key: str


async def issue_key(session: AsyncSession, deps: IntakeDeps, *, name: str, scopes: list[str]) -> IssuedKey:
    key = generate_key()
    key_id = uuid.uuid4()
    now = deps.clock.now()
    digest = hash_key(key)
    await session.execute(
        api_keys.insert().values(id=key_id, name=name, key_hash=digest, scopes=scopes, created_at=now)
    )
    await deps.outbox.add(
        session, ApiKeyCreated(key_id=key_id, name=name, key_hash=digest, scopes=scopes, created_at=now)
    )
    return IssuedKey(key_id, name, scopes, key)


async def revoke_key(session: AsyncSession, deps: IntakeDeps, key_id: uuid.UUID) -> None:
    now = deps.clock.now()
    revoked = await session.scalar(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(api_keys.c.id)
    )
    if revoked is None:
        exists = await session.scalar(select(api_keys.c.id).where(api_keys.c.id == key_id))
        if exists is None:
            raise NotFound(f"No API key {key_id}.")
        return  # already revoked: revoking is idempotent
    await deps.outbox.add(session, ApiKeyRevoked(key_id=key_id, revoked_at=now))


async def list_keys(session: AsyncSession) -> list:
    return list(await session.execute(select(api_keys).order_by(api_keys.c.created_at)))
