"""The router's tables: its configuration (agents, queues, policies, schedules), who holds each incident."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Text,
    Uuid,
    text,
)
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


class AgentRow(Base):
    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)  # skills, capacity
    available: Mapped[bool] = mapped_column(Boolean)  # runtime state: the file never resets it
    managed_by: Mapped[str] = mapped_column(Text)  # config | api
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QueueRow(Base):
    __tablename__ = "queues"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    tier: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)  # matching order within the tier
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    position: Mapped[int] = mapped_column(Integer, default=0)  # rotation, shared by every replica
    managed_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PolicyRow(Base):
    __tablename__ = "escalation_policies"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    managed_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CatalogVersionRow(Base):
    """One row: the configuration's version, new with every change to agents, queues or policies.

    Set by triggers (migration 0007) in the changing transaction; never written from Python.
    """

    __tablename__ = "catalog_version"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    version: Mapped[uuid.UUID] = mapped_column(Uuid)


class AssignmentRow(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        Index(
            "assignments_waiting",
            "queue",
            "waiting_since",
            postgresql_where=text("status = 'active' AND assignee IS NULL AND waiting_since IS NOT NULL"),
        ),
        Index("assignments_held", "assignee", postgresql_where=text("status = 'active'")),
        Index("assignments_ack_due", "ack_due_at", postgresql_where=text("ack_due_at IS NOT NULL")),
    )

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    service: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    policy: Mapped[str | None] = mapped_column(Text)
    tier: Mapped[str] = mapped_column(Text)
    tier_entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    queue: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(Text)
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # in a queue, nobody free
    vendor: Mapped[str | None] = mapped_column(Text)
    rejected_by: Mapped[list[str]] = mapped_column(JSONB, default=list)  # vendors that turned it away
    status: Mapped[str] = mapped_column(Text)  # active | released
    is_acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    ack_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    renotified: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ListedVendorRow(Base):
    """What the vendor gateway last said about a vendor: what it serves, its contract, if it takes cases."""

    __tablename__ = "vendor_directory"

    vendor: Mapped[str] = mapped_column(Text, primary_key=True)
    products: Mapped[list[str]] = mapped_column(JSONB)
    categories: Mapped[list[str]] = mapped_column(JSONB)
    contract: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # response_seconds, resolution_seconds
    is_enabled: Mapped[bool] = mapped_column(Boolean)
    revision: Mapped[int] = mapped_column(
        BigInteger, server_default="0"
    )  # the gateway's order of announcements
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleRow(Base):
    """An on-call schedule: its time zone and layers (``ScheduleSpec`` but the name)."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    managed_by: Mapped[str] = mapped_column(Text)  # config | api
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleOverrideRow(Base):
    """Someone covering a span of a schedule, whoever its layers say (a later one wins)."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (Index("schedule_overrides_by_end", "schedule", "ends_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity())  # the order they were made: a later one wins
    schedule: Mapped[str] = mapped_column(Text, ForeignKey("schedules.name", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScheduleWatchRow(Base):
    """The shift-change worker's state per schedule: who it last saw on call, and when to look again."""

    __tablename__ = "schedule_watch"
    __table_args__ = (Index("schedule_watch_due", "check_at"),)

    schedule: Mapped[str] = mapped_column(Text, primary_key=True)
    person: Mapped[str | None] = mapped_column(Text)
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
