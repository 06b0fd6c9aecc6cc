"""The SLA monitor's tables: clocks (the timers), what it knows of each incident, policies, calendars."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, Integer, SmallInteger, Text, Uuid, text
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


class ClockRow(Base):
    """One clock: what it measures, its state, the business time it banked and when it next needs a look."""

    __tablename__ = "clocks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(Text)
    policy: Mapped[str | None] = mapped_column(Text)
    calendar: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    running_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None while paused
    elapsed_seconds: Mapped[float] = mapped_column(Float)  # business time banked before running_since
    target_seconds: Mapped[float] = mapped_column(Float)
    warnings: Mapped[list[float]] = mapped_column(JSONB)
    warned: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None while paused
    fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # next warning or due time
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # business time from start to the acknowledgement or resolution it measured (also after a breach)
    finished_seconds: Mapped[float | None] = mapped_column(Float)
    # W3C traceparent of the event that started the clock: its warnings and breach continue that trace
    traceparent: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The poller's scan, by next warning or due time: its cost grows with what is due, not what is armed.
        Index("ix_clocks_running_fire", "fire_at", postgresql_where=text("state = 'running'")),
        # One open clock of a kind per incident.
        Index(
            "uq_clocks_open_kind",
            "incident_id",
            "kind",
            unique=True,
            postgresql_where=text("state IN ('running', 'paused')"),
        ),
        Index("ix_clocks_started_at", "started_at"),
    )


class IncidentRow(Base):
    """What the monitor knows of an incident: enough to choose its policy and not to revive it once closed."""

    __tablename__ = "incidents"

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    priority: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str | None] = mapped_column(Text)
    customer: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(Text)  # incident or service_request; None: incident
    policy: Mapped[str | None] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(Text)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PolicyRow(Base):
    __tablename__ = "sla_policies"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    managed_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CalendarRow(Base):
    __tablename__ = "calendars"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    managed_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CatalogVersionRow(Base):
    """One row: the SLA catalog's version, new with every change to policies or calendars.

    Set by triggers (migration 0006) in the changing transaction; never written from Python.
    """

    __tablename__ = "catalog_version"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[uuid.UUID] = mapped_column(Uuid)
