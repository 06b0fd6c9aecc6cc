"""The SLA monitor's tables: clocks (the timers) and incidents already closed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from tierline_shared.auth import access_tables
from tierline_shared.db import declarative_base
from tierline_shared.messaging.tables import messaging_tables

Base = declarative_base()
outbox, inbox = messaging_tables(Base.metadata)
api_keys, rate_limits = access_tables(Base.metadata)


class ClockRow(Base):
    __tablename__ = "clocks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The poller's scan: running clocks by due time.
        Index("ix_clocks_running_due", "due_at", postgresql_where=text("state = 'running'")),
        # One running clock of a kind per incident.
        Index(
            "uq_clocks_running_kind",
            "incident_id",
            "kind",
            unique=True,
            postgresql_where=text("state = 'running'"),
        ),
    )


class ClosedIncidentRow(Base):
    """Incidents already resolved: late events must not start clocks for them."""

    __tablename__ = "closed_incidents"

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
