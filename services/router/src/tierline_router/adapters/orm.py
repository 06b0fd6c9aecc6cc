"""The router's tables: who holds each incident, and each queue's round-robin position."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tierline_shared.auth import access_tables
from tierline_shared.db import declarative_base
from tierline_shared.messaging.tables import messaging_tables

Base = declarative_base()
outbox, inbox = messaging_tables(Base.metadata)
api_keys, rate_limits = access_tables(Base.metadata)


class AssignmentRow(Base):
    __tablename__ = "assignments"

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    service: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    tier: Mapped[str] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # active | released
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueueCursorRow(Base):
    """Round-robin state lives in the database so every replica shares it."""

    __tablename__ = "queue_cursors"

    queue: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
