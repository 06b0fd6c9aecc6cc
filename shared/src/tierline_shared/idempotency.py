"""``Idempotency-Key`` for write endpoints: same key and body replay the stored answer.

The key's row is inserted first, inside the request's own transaction, so a concurrent
twin waits on the unique index and then sees the committed answer. A request that
fails rolls back and leaves no row, so it may be retried with the same key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.errors import InvalidInput

HEADER = "Idempotency-Key"
RETENTION = timedelta(hours=24)


def _columns() -> list[Any]:
    return [
        Column("owner", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("fingerprint", Text, nullable=False),
        Column("status_code", Integer),
        Column("body", JSONB),
        Column("headers", JSONB),
        Column("created_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("owner", "key", name="pk_idempotency_keys"),
    ]


def idempotency_table(metadata: MetaData) -> Table:
    table = Table("idempotency_keys", metadata, *_columns())
    Index("ix_idempotency_keys_created_at", table.c.created_at)
    return table


def create_idempotency_table(op: Any) -> None:
    op.create_table("idempotency_keys", *_columns())
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: BaseModel | dict[str, Any] | list[Any] | None
    headers: dict[str, str]


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = (
            json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode() if body else b""
        )
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def _validate_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 printable characters.",
            errors=[{"field": HEADER, "in": "header", "reason": "1 to 255 printable characters"}],
        )


async def run(
    request: Request,
    session: AsyncSession,
    table: Table,
    *,
    owner: str,
    now: datetime,
    work: Callable[[], Awaitable[Outcome]],
) -> JSONResponse:
    """Run ``work`` once per (owner, Idempotency-Key); without the header, just run it."""
    key = request.headers.get(HEADER)
    if key is None:
        return _respond(await work(), replayed=False)
    _validate_key(key)
    print_ = fingerprint(request.method, request.url.path, await request.body())
    await session.execute(
        delete(table).where(table.c.owner == owner, table.c.key == key, table.c.created_at < now - RETENTION)
    )
    fresh = await session.scalar(
        insert(table)
        .values(owner=owner, key=key, fingerprint=print_, created_at=now)
        .on_conflict_do_nothing()
        .returning(table.c.key)
    )
    if fresh is None:
        stored = (
            await session.execute(select(table).where(table.c.owner == owner, table.c.key == key))
        ).one()
        if stored.fingerprint != print_:
            raise InvalidInput(
                "This Idempotency-Key was used with a different request.",
                errors=[
                    {
                        "field": HEADER,
                        "in": "header",
                        "reason": "reused with a different method, path or body",
                    }
                ],
            )
        return JSONResponse(
            stored.body,
            status_code=stored.status_code,
            headers={**(stored.headers or {}), "Idempotent-Replayed": "true"},
        )
    outcome = await work()
    body = jsonable_encoder(outcome.body)
    await session.execute(
        update(table)
        .where(table.c.owner == owner, table.c.key == key)
        .values(status_code=outcome.status_code, body=body, headers=outcome.headers)
    )
    return _respond(outcome, replayed=False, encoded=body)


def _respond(outcome: Outcome, *, replayed: bool, encoded: Any = None) -> JSONResponse:
    body = encoded if encoded is not None else jsonable_encoder(outcome.body)
    return JSONResponse(body, status_code=outcome.status_code, headers=outcome.headers)


async def prune(session: AsyncSession, table: Table, now: datetime) -> None:
    await session.execute(delete(table).where(table.c.created_at < now - RETENTION))
