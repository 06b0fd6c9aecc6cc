"""API keys: scoped bearer tokens, stored hashed, checked by every service against its own copy.

Intake issues keys and publishes their hash and scopes (``tierline.access``); every
service, intake included, keeps the ``api_keys`` table current from those events.
A bootstrap admin key from TIERLINE_BOOTSTRAP_API_KEY works everywhere from the start.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    delete,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared.clock import Clock
from tierline_shared.errors import Forbidden, TooManyRequests, Unauthorized
from tierline_shared.events import ApiKeyCreated, ApiKeyRevoked
from tierline_shared.messaging.handlers import Consumed, Handlers

SCOPES = ("incidents:read", "incidents:write", "admin")
KEY_PREFIX = "tl_"
BOOTSTRAP_KEY_ID = uuid.UUID(int=0)
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tl_…`")


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 is enough: keys are 256-bit random, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def _api_key_columns() -> list[Any]:
    return [
        Column("id", Uuid, primary_key=True),
        Column("name", Text, nullable=False),
        Column("key_hash", Text, nullable=False, unique=True),
        Column("scopes", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True)),
    ]


def _rate_limit_columns() -> list[Any]:
    return [
        Column("subject", Text, nullable=False),
        Column("window_start", DateTime(timezone=True), nullable=False),
        Column("hits", Integer, nullable=False),
        PrimaryKeyConstraint("subject", "window_start", name="pk_rate_limits"),
    ]


def access_tables(metadata: MetaData) -> tuple[Table, Table]:
    return (
        Table("api_keys", metadata, *_api_key_columns()),
        Table("rate_limits", metadata, *_rate_limit_columns()),
    )


def create_access_tables(op: Any) -> None:
    """Alembic upgrade step for a service migration."""
    op.create_table("api_keys", *_api_key_columns())
    op.create_table("rate_limits", *_rate_limit_columns())


def drop_access_tables(op: Any) -> None:
    op.drop_table("rate_limits")
    op.drop_table("api_keys")


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        if "admin" in self.scopes:
            return True
        if scope == "incidents:read" and "incidents:write" in self.scopes:
            return True
        return scope in self.scopes


class Access:
    """Authenticates bearer keys and counts requests per key (fixed one-minute windows in PostgreSQL)."""

    def __init__(
        self,
        *,
        api_keys: Table,
        rate_limits: Table,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        bootstrap_key: str | None,
        requests_per_minute: int,
    ) -> None:
        self.api_keys = api_keys
        self.rate_limits = rate_limits
        self.sessions = sessions
        self.clock = clock
        self.bootstrap_hash = hash_key(bootstrap_key) if bootstrap_key else None
        self.requests_per_minute = requests_per_minute

    async def authenticate(self, token: str | None) -> Principal:
        digest = self._digest(token)
        bootstrap = self._bootstrap(digest)
        if bootstrap is not None:
            return bootstrap
        async with self.sessions() as session:
            return await self._lookup(session, digest)

    async def admit(self, token: str | None, scope: str) -> Principal:
        """Authenticate, check ``scope`` and count the request, on one connection.

        The same answers as ``authenticate``, the scope check and ``count`` one after the other, at
        a fraction of the round trips: every API request pays this. The connection autocommits (no
        BEGIN and COMMIT of its own): the lookup only reads, and the count is one statement.
        """
        digest = self._digest(token)
        async with self.sessions() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            principal = self._bootstrap(digest) or await self._lookup(session, digest)
            if not principal.allows(scope):
                raise Forbidden(f"This key lacks the {scope!r} scope.", required_scope=scope)
            now = self.clock.now()
            hits = await self._hit(session, f"key:{principal.key_id}", now)
        self._refuse_past_limit(hits, now)  # the count is committed either way
        return principal

    async def count(self, subject: str) -> None:
        """Count one request; raise TooManyRequests (with Retry-After) past the per-minute limit."""
        if self.requests_per_minute <= 0:
            return
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            hits = await self._hit(session, subject, now)
        self._refuse_past_limit(hits, now)

    @staticmethod
    def _digest(token: str | None) -> str:
        if not token:
            raise Unauthorized(
                "Send an API key: Authorization: Bearer <key>.", headers={"WWW-Authenticate": "Bearer"}
            )
        return hash_key(token)

    def _bootstrap(self, digest: str) -> Principal | None:
        if self.bootstrap_hash and hmac.compare_digest(digest, self.bootstrap_hash):
            return Principal(BOOTSTRAP_KEY_ID, "bootstrap", frozenset({"admin"}))
        return None

    async def _lookup(self, session: AsyncSession, digest: str) -> Principal:
        row = (
            await session.execute(
                select(self.api_keys.c.id, self.api_keys.c.name, self.api_keys.c.scopes).where(
                    self.api_keys.c.key_hash == digest, self.api_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
        if row is None:
            raise Unauthorized(
                "The API key is unknown or revoked.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return Principal(row.id, row.name, frozenset(row.scopes))

    async def _hit(self, session: AsyncSession, subject: str, now: datetime) -> int | None:
        """One more request of ``subject`` in this minute's window; the window's count (None: no limit)."""
        if self.requests_per_minute <= 0:
            return None
        window = now.replace(second=0, microsecond=0)
        hits: int | None = await session.scalar(
            insert(self.rate_limits)
            .values(subject=subject, window_start=window, hits=1)
            .on_conflict_do_update(
                index_elements=["subject", "window_start"], set_={"hits": self.rate_limits.c.hits + 1}
            )
            .returning(self.rate_limits.c.hits)
        )
        return hits

    def _refuse_past_limit(self, hits: int | None, now: datetime) -> None:
        if hits is None or hits <= self.requests_per_minute:
            return
        window = now.replace(second=0, microsecond=0)
        retry_after = max(1, int((window + timedelta(minutes=1) - now).total_seconds() + 0.999))
        raise TooManyRequests(
            f"More than {self.requests_per_minute} requests a minute with this key; retry later.",
            headers={"Retry-After": str(retry_after)},
            retry_after_seconds=retry_after,
        )

    async def prune(self, older_than: datetime) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(self.rate_limits).where(self.rate_limits.c.window_start < older_than)
            )


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """FastAPI dependency: a valid key with ``scope`` (admin has every scope), within its rate limit."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope}")

    async def dependency(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
    ) -> Principal:
        access: Access = request.app.state.runtime.access
        principal = await access.admit(credentials.credentials if credentials else None, scope)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


# Every service keeps its own copy of the API keys intake issues: these apply intake's events to it.
key_copies: Handlers[Table] = Handlers()


@key_copies.handles(ApiKeyCreated)
async def apply_key_created(event: ApiKeyCreated, c: Consumed[Table]) -> None:
    api_keys = c.deps
    await c.session.execute(
        insert(api_keys)
        .values(
            id=event.key_id,
            name=event.name,
            key_hash=event.key_hash,
            scopes=list(event.scopes),
            created_at=event.created_at,
        )
        .on_conflict_do_nothing()
    )


@key_copies.handles(ApiKeyRevoked)
async def apply_key_revoked(event: ApiKeyRevoked, c: Consumed[Table]) -> None:
    api_keys = c.deps
    await c.session.execute(
        update(api_keys)
        .where(api_keys.c.id == event.key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=event.revoked_at)
    )
