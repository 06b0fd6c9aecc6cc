"""Keyset pagination, newest first, for every list API: the cursor is where the last page ended."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.errors import InvalidInput

T = TypeVar("T")


def encode_cursor(created_at: datetime, ident: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(ident)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a page ended at; a 422 naming ``cursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, ident = json.loads(raw)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("a cursor's time has an offset")
        return at.astimezone(UTC), uuid.UUID(ident)
    # binascii, Unicode and JSON errors are ValueErrors; OverflowError: a time UTC cannot hold;
    # TypeError and AttributeError: JSON of the wrong types (a number where a string belongs)
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:
        raise InvalidInput(
            "The cursor is not one this API returned.",
            errors=[{"field": "cursor", "in": "query", "reason": "not a cursor from next_cursor"}],
        ) from exc


async def newest_first(
    session: AsyncSession, stmt: Select[T], model: Any, *, limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """One page of ``stmt``'s ``model`` rows by (created_at, id) descending, and the next page's cursor."""
    if cursor:
        created, ident = decode_cursor(cursor)
        stmt = stmt.where(
            or_(model.created_at < created, and_(model.created_at == created, model.id < ident))
        )
    rows = list(
        await session.scalars(stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1))
    )
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)  # type: ignore[attr-defined]
