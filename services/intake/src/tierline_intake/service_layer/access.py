"""Issuing and revoking API keys: intake is the authority; the others copy hash and scopes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_intake.service_layer.unit_of_work import IntakeUnitOfWork
from tierline_shared.auth import BOOTSTRAP_KEY_ID, Principal, generate_key, hash_key
from tierline_shared.errors import NotFound
from tierline_shared.events import ApiKeyCreated, ApiKeyRevoked
from tierline_shared.events.access import Scope


@dataclass(frozen=True)
class IssuedKey:
    id: uuid.UUID
    name: str
    scopes: Sequence[str]
    key: str
    person: str | None = None


async def issue_key(
    uow: IntakeUnitOfWork, deps: IntakeDeps, *, name: str, scopes: list[Scope], person: str | None = None
) -> IssuedKey:
    """A new key; ``person`` (the router's agent name its holder works as) stays in intake."""
    key = generate_key()
    key_id = uuid.uuid4()
    now = deps.clock.now()
    digest = hash_key(key)
    await uow.api_keys.insert(
        key_id=key_id, name=name, key_hash=digest, scopes=scopes, created_at=now, person=person
    )
    await uow.announce(
        ApiKeyCreated(key_id=key_id, name=name, key_hash=digest, scopes=scopes, created_at=now)
    )
    return IssuedKey(key_id, name, scopes, key, person)


async def revoke_key(uow: IntakeUnitOfWork, deps: IntakeDeps, key_id: uuid.UUID) -> None:
    now = deps.clock.now()
    if not await uow.api_keys.revoke(key_id, now):
        if not await uow.api_keys.exists(key_id):
            raise NotFound(f"No API key {key_id}.")
        return  # already revoked: revoking is idempotent
    await uow.announce(ApiKeyRevoked(key_id=key_id, revoked_at=now))


async def list_keys(uow: IntakeUnitOfWork) -> list[Any]:
    """Every key's record (id, name, scopes, created_at, revoked_at, person), oldest first."""
    return list(await uow.api_keys.all())


@dataclass(frozen=True)
class KeyHolder:
    """Who a key is: what the console signs a person in as."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    person: str | None


async def holder(uow: IntakeUnitOfWork, principal: Principal) -> KeyHolder:
    """The calling key's name, scopes and person (the bootstrap key has no person)."""
    person = None if principal.key_id == BOOTSTRAP_KEY_ID else await uow.api_keys.person_of(principal.key_id)
    return KeyHolder(principal.key_id, principal.name, sorted(principal.scopes), person)
