"""The vendor gateway's tables: incident snapshots, cases (handoffs), deliveries, seen callbacks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, Index, Integer, LargeBinary, Text, Uuid, text
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


class IncidentSnapshotRow(Base):
    """What intake announced about an incident: enough to brief a vendor."""

    __tablename__ = "incident_snapshots"

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


class CaseRow(Base):
    """One L4 handoff of an incident to a vendor."""

    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    vendor: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # pending | open | acknowledged | failed | resolved | rejected
    vendor_reference: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_cases_created_at_id", "created_at", "id"),)  # newest-first pages


class DeliveryRow(Base):
    """A webhook message; its id is the ``webhook-id`` on every attempt."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    vendor: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(Text)  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # set by a worker's claim, cleared when the attempt is recorded: until then an attempt is in flight
    leased_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_deliveries_pending_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )


class SeenCallbackRow(Base):
    """Callback webhook-ids already applied: a replay is accepted once and ignored after."""

    __tablename__ = "seen_callbacks"

    webhook_id: Mapped[str] = mapped_column(Text, primary_key=True)
    vendor: Mapped[str] = mapped_column(Text, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryAttemptRow(Base):
    """One HTTP attempt at a delivery: the delivery log vendors and operators read."""

    __tablename__ = "delivery_attempts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(Text, index=True)
    vendor: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VendorStateRow(Base):
    """Runtime state of a vendor's endpoint: disabled after 410 Gone until someone re-enables it."""

    __tablename__ = "vendor_state"

    vendor: Mapped[str] = mapped_column(Text, primary_key=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VendorRow(Base):
    """A registered vendor; ``spec`` is a VendorSpec document, ``managed_by`` config or api."""

    __tablename__ = "vendors"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    managed_by: Mapped[str] = mapped_column(Text)
    # bumped, under the row's lock, by every announcement: orders vendor.changed events
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
