"""The nonces of links that acted (acknowledge, CSAT): a link is used once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import UsedLink

_INSERT = insert(UsedLink).on_conflict_do_nothing(index_elements=["nonce"]).returning(UsedLink.nonce)


class UsedLinkRepository:
    """Reads and writes in the caller's transaction; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def used_at(self, nonce: str) -> datetime | None:
        """When the link with ``nonce`` acted; None if it never did."""
        at: datetime | None = await self.session.scalar(
            select(UsedLink.used_at).where(UsedLink.nonce == nonce)
        )
        return at

    async def use(self, nonce: str, *, purpose: str, incident_id: uuid.UUID, at: datetime) -> bool:
        """Record the link as used; False if it already was (a concurrent use waits for the other's
        transaction on the primary key, then finds it taken)."""
        taken = await self.session.scalar(
            _INSERT.values(nonce=nonce, purpose=purpose, incident_id=incident_id, used_at=at)
        )
        return taken is not None
