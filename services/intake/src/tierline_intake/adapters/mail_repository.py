"""The email channel's rows: mails taken in, their attachments, and notifications' incidents."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.adapters.orm import IncidentRow, MailAttachment, MailMessage, NotificationThread


@dataclass(frozen=True)
class Candidate:
    """An incident a subject reference may name."""

    id: uuid.UUID
    reporter: str
    created_at: datetime


class MailRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, message_id: str, *, received_at: datetime, sender: str, **values: Any) -> bool:
        """Record the mail as taken in; False when its Message-ID was taken in before (a duplicate).

        A mail only held before (over its sender's rate) is not taken in: its row is taken over, so
        that the sending server's retry (or the next IMAP round) gets through once the rate allows.
        A concurrent delivery of the same mail waits here for the first one's transaction.
        """
        insert_row = insert(MailMessage).values(
            message_id=message_id, received_at=received_at, sender=sender, **values
        )
        statement = insert_row.on_conflict_do_update(
            index_elements=["message_id"],
            set_={
                c.name: insert_row.excluded[c.name]
                for c in MailMessage.__table__.columns
                if not c.primary_key
            },
            where=MailMessage.outcome == "held",
        ).returning(MailMessage.message_id)
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def settle(
        self,
        message_id: str,
        *,
        outcome: str,
        reason: str | None = None,
        incident_id: uuid.UUID | None = None,
    ) -> None:
        """What became of the mail claimed in this transaction."""
        await self.session.execute(
            update(MailMessage)
            .where(MailMessage.message_id == message_id)
            .values(outcome=outcome, reason=reason, incident_id=incident_id)
        )

    async def lock_sender(self, sender: str) -> None:
        """Until this transaction ends, other deliveries from ``sender`` wait here: counting then
        sees the mails committed before, so parallel deliveries cannot all pass the rate."""
        statement = text("SELECT pg_advisory_xact_lock(hashtextextended('mail-rate:' || :sender, 0))")
        await self.session.execute(statement, {"sender": sender})

    async def count_from(self, sender: str, *, since: datetime, besides: str) -> int:
        """Mails taken in from ``sender`` since ``since``, other than ``besides``; held ones are not
        taken in, so a sender's held mail gets through once the sender keeps to the rate."""
        statement = select(func.count()).where(
            MailMessage.sender == sender,
            MailMessage.received_at >= since,
            MailMessage.message_id != besides,
            MailMessage.outcome != "held",
        )
        return int((await self.session.execute(statement)).scalar_one())

    def add_attachment(self, **values: Any) -> None:
        self.session.add(MailAttachment(**values))

    async def attachments_of(self, incident_id: uuid.UUID) -> Sequence[Any]:
        """The incident's attachments without their content, oldest first."""
        columns = [c for c in MailAttachment.__table__.columns if c.name != "data"]
        statement = (
            select(*columns)
            .where(MailAttachment.incident_id == incident_id)
            .order_by(MailAttachment.created_at, MailAttachment.filename, MailAttachment.id)
        )
        return (await self.session.execute(statement)).all()

    async def attachment(self, incident_id: uuid.UUID, attachment_id: uuid.UUID) -> MailAttachment | None:
        row = await self.session.get(MailAttachment, attachment_id)
        return row if row is not None and row.incident_id == incident_id else None

    async def remember_thread(
        self, notification_id: uuid.UUID, incident_id: uuid.UUID, recipient: str
    ) -> None:
        await self.session.execute(
            insert(NotificationThread)
            .values(notification_id=notification_id, incident_id=incident_id, recipient=recipient)
            .on_conflict_do_nothing(index_elements=["notification_id"])
        )

    async def mailed(self, incident_id: uuid.UUID, address: str) -> bool:
        """Whether a notification about the incident was sent to ``address`` (an email address,
        compared as :func:`~tierline_intake.mail.mailboxes.normalise` does; a person's name or a
        queue never matches)."""
        if "@" not in address:
            return False
        statement = select(
            exists().where(
                NotificationThread.incident_id == incident_id,
                func.lower(func.trim(NotificationThread.recipient)) == address,
            )
        )
        return bool((await self.session.execute(statement)).scalar_one())

    async def thread_of(self, notification_ids: Sequence[uuid.UUID]) -> uuid.UUID | None:
        """The incident of the first of ``notification_ids`` intake knows, or None."""
        if not notification_ids:
            return None
        statement = select(NotificationThread.notification_id, NotificationThread.incident_id).where(
            NotificationThread.notification_id.in_(list(notification_ids))
        )
        known = {
            notification: incident for notification, incident in (await self.session.execute(statement)).all()
        }
        return next((known[n] for n in notification_ids if n in known), None)

    async def referenced(self, prefix: str) -> list[Candidate]:
        """Incidents whose id starts with the 8 hex digits ``prefix``, newest first (a primary key range)."""
        low = uuid.UUID(prefix + "0" * 24)
        high = uuid.UUID(prefix + "f" * 24)
        statement = (
            select(IncidentRow.id, IncidentRow.reporter, IncidentRow.created_at)
            .where(IncidentRow.id.between(low, high))
            .order_by(IncidentRow.created_at.desc())
            .limit(50)
        )
        return [Candidate(*row) for row in (await self.session.execute(statement)).all()]
