"""The notifier's tables: people and teams (catalogs), incident views, and every notification owed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, Text, UniqueConstraint, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tierline_shared.auth import access_tables
from tierline_shared.db import new_metadata
from tierline_shared.messaging.tables import messaging_tables


class Base(DeclarativeBase):
    """This service's tables, on metadata of its own."""

    metadata = new_metadata()


outbox, inbox = messaging_tables(Base.metadata)
api_keys, rate_limits = access_tables(Base.metadata)


class _CatalogRow:
    """A directory entry: its name, its document (``spec``), who manages it (config or api), when."""

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    managed_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PersonRow(_CatalogRow, Base):
    """A person of the directory; ``spec`` is a Person document (contacts and rules)."""

    __tablename__ = "people"


class TeamRow(_CatalogRow, Base):
    """A queue's team; ``spec`` is a Team document (lead and channels)."""

    __tablename__ = "teams"


class IncidentViewRow(Base):
    """What the events told of an incident (an IncidentView document)."""

    __tablename__ = "incident_views"

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationRow(Base):
    """One message owed to one contact because of one event: at most one per (event, role, recipient,
    contact). The role keeps a team apart from a person of the same name; one person told twice by an
    event (assignee and lead) is told once (``audience.owed``)."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)  # the contact's name; "" when skipped (nobody to reach)
    channel: Mapped[str | None] = mapped_column(Text)  # email, slack, … (None when skipped)
    target: Mapped[str | None] = mapped_column(Text)  # the address or URL (never shown: it may hold a token)
    status: Mapped[str] = mapped_column(Text)  # pending | sent | dead | cancelled | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # set by a sender's claim, cleared when the attempt is recorded: until then an attempt is in flight
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the message's context as the event left it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_id", "role", "recipient", "contact", name="uq_notifications_once"),
        Index("ix_notifications_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_notifications_incident", "incident_id", "created_at"),
        Index("ix_notifications_created_at_id", "created_at", "id"),
    )
