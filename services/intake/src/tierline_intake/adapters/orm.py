"""Intake's tables: incidents, their SLA view and timeline (the read model), outbox, inbox."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tierline_shared.auth import access_tables
from tierline_shared.db import new_metadata
from tierline_shared.idempotency import idempotency_table
from tierline_shared.messaging.tables import messaging_tables


class Base(DeclarativeBase):
    """This service's tables, on metadata of its own."""

    metadata = new_metadata()


outbox, inbox = messaging_tables(Base.metadata)
api_keys, rate_limits = access_tables(Base.metadata)
idempotency_keys = idempotency_table(Base.metadata)


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    service: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(Text)
    customer: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(Text)
    urgency: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    priority_source: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    reporter: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text, server_default="incident")  # or service_request
    status: Mapped[str] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(Text)
    vendor_case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    vendor_reference: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_code: Mapped[str | None] = mapped_column(Text)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_comment: Mapped[str | None] = mapped_column(Text)
    knowledge: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    knowledge_article_used: Mapped[str | None] = mapped_column(Text)
    problem_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    integration_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (
        # At most one open incident per dedup key; resolving or closing frees the key.
        Index(
            "uq_incidents_open_dedup_key",
            "dedup_key",
            unique=True,
            postgresql_where=text("dedup_key IS NOT NULL AND status IN ('open', 'acknowledged', 'on_hold')"),
        ),
        Index("ix_incidents_created_at", "created_at"),
        Index("ix_incidents_status_created", "status", "created_at"),
        Index("ix_incidents_problem_id", "problem_id"),
    )


class SlaClockView(Base):
    """What the SLA monitor told us about one clock of an incident."""

    __tablename__ = "incident_sla"

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    clock: Mapped[str] = mapped_column(Text, primary_key=True)
    tier: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None while paused
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # business time left as the pause announced it; kept when the clock stops while paused
    remaining_seconds: Mapped[float | None] = mapped_column(Float)
    warning_threshold: Mapped[float | None] = mapped_column(Float)  # the latest warning's, e.g. 0.75
    last_warning: Mapped[bool] = mapped_column(Boolean, default=False)  # that warning was the policy's last


class TimelineEntry(Base):
    __tablename__ = "timeline"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ApiKeyPerson(Base):
    """Who works with an API key: the router's agent name (intake's own; the shared ``api_keys``
    table every service copies carries no person)."""

    __tablename__ = "api_key_people"

    key_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    person: Mapped[str] = mapped_column(Text)


class IntegrationRow(Base):
    """A monitoring integration (PagerDuty Events v2 or Alertmanager); its key routes events."""

    __tablename__ = "integrations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    type: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(Text, unique=True)
    key_hint: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProblemRow(Base):
    """A problem record: the shared root cause behind several incidents (ITIL problem management)."""

    __tablename__ = "problems"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    workaround: Mapped[str | None] = mapped_column(Text)
    known_error: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_problems_created_at", "created_at", "id"),)  # the list's keyset order


class UsedLink(Base):
    """An acknowledge or CSAT link that acted: its nonce, stored with the action, refuses a second use."""

    __tablename__ = "used_links"

    nonce: Mapped[str] = mapped_column(Text, primary_key=True)
    purpose: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- the reports' facts (derived from each incident's row and timeline; see domain/facts.py) ----

CREATED_DAY = "(created_at AT TIME ZONE 'UTC')::date"
TIER_BITS = {"L1": 1, "L2": 2, "L3": 4, "L4": 8}  # held_tiers, escalated_tiers


def _stored(expression: str) -> Computed:
    return Computed(expression, persisted=True)  # STORED (PostgreSQL 18's default is VIRTUAL)


def _seconds(later: str, earlier: str) -> str:
    return f"date_part('epoch', {later} - {earlier})"


def _tier_bits(array: str) -> str:
    bits = " | ".join(f"(CASE WHEN '{t}' = ANY({array}) THEN {b} ELSE 0 END)" for t, b in TIER_BITS.items())
    return f"CAST({bits} AS smallint)"


class IncidentFacts(Base):
    """One incident as the KPI reports count it: its dimensions now and what its timeline says.

    Rewritten whole from the incident and its timeline whenever a line lands (through
    ``incident_facts_stale``); the reports read only this table and ``incident_stints``.
    """

    __tablename__ = "incident_facts"

    # in migration 0009's column order: what the KPIs aggregate first (see there); the columns
    # with Computed are PostgreSQL's own (generated), never written
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_day: Mapped[date] = mapped_column(Date, _stored(CREATED_DAY))  # UTC
    reopen_count: Mapped[int] = mapped_column(Integer)
    reassignments: Mapped[int] = mapped_column(Integer)
    handled_stints: Mapped[int] = mapped_column(Integer)  # stints with a handle time
    held_tiers: Mapped[int] = mapped_column(SmallInteger, _stored(_tier_bits("tiers_held")))
    escalated_tiers: Mapped[int] = mapped_column(SmallInteger, _stored(_tier_bits("escalated_from")))
    l1_only: Mapped[bool] = mapped_column(Boolean)  # never held above L1
    knowledge_linked: Mapped[bool] = mapped_column(Boolean)
    breached: Mapped[bool] = mapped_column(Boolean)  # its response or resolution clock breached
    vendor_rejected: Mapped[bool] = mapped_column(Boolean)
    vendor_failed: Mapped[bool] = mapped_column(Boolean)  # the handoff never reached the vendor
    handled_seconds: Mapped[float] = mapped_column(Float)  # the sum of its stints' handle times
    hold_seconds: Mapped[float] = mapped_column(Float)
    ack_seconds: Mapped[float | None] = mapped_column(Float, _stored(_seconds("first_ack_at", "created_at")))
    resolve_seconds: Mapped[float | None] = mapped_column(
        Float, _stored(_seconds("resolved_at", "created_at"))
    )
    first_contact: Mapped[bool | None] = mapped_column(
        Boolean
    )  # resolved within the window; None: not resolved
    csat_score: Mapped[int | None] = mapped_column(Integer)
    response_met: Mapped[bool | None] = mapped_column(Boolean)  # the response clock's outcome; None: none yet
    resolution_met: Mapped[bool | None] = mapped_column(Boolean)
    service: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(Text)  # where it is now (resolved: where it was resolved)
    queue: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text)  # who holds it now, or held it last
    vendor: Mapped[str | None] = mapped_column(Text)  # the vendor it was last handed to
    vendor_ack_seconds: Mapped[float | None] = mapped_column(
        Float, _stored(_seconds("vendor_ack_at", "vendor_handoff_at"))
    )
    vendor_resolve_seconds: Mapped[float | None] = mapped_column(
        Float, _stored(_seconds("vendor_resolved_at", "vendor_handoff_at"))
    )
    vendor_handoff_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    vendor_response_met: Mapped[bool | None] = mapped_column(Boolean)
    vendor_resolution_met: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(Text)
    first_ack_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True)
    )  # None unless resolved/closed
    vendor_ack_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    vendor_resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tiers_held: Mapped[list[str]] = mapped_column(ARRAY(Text))
    escalated_from: Mapped[list[str]] = mapped_column(ARRAY(Text))  # tiers it was escalated up out of
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_incident_facts_created_at", "created_at"),)


class IncidentStint(Base):
    """A span one tier, queue and agent (or nobody: waiting) held an incident, in order (``n``)."""

    __tablename__ = "incident_stints"

    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the incident's
    created_day: Mapped[date] = mapped_column(Date, _stored(CREATED_DAY))
    handle_seconds: Mapped[float | None] = mapped_column(
        Float
    )  # agent stints ended by resolution or escalation
    tier: Mapped[str] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: holds it still
    ended_by: Mapped[str | None] = mapped_column(Text)  # escalated, de_escalated, reassigned, resolved
    hold_seconds: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_incident_stints_created_at", "created_at"),)


class FactsStale(Base):
    """Incidents whose facts are older than their timeline: a trigger on ``timeline`` adds them.

    Append-only (no unique key, so concurrent writers never wait on each other); the refresher
    takes rows with ``SKIP LOCKED``, dedupes and deletes them in the transaction that rewrites.
    """

    __tablename__ = "incident_facts_stale"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid)


# -- the email channel (mail/) ----------------------------------------------------------------


class MailMessage(Base):
    """Every mail taken in, whatever became of it; its Message-ID makes a second delivery a duplicate."""

    __tablename__ = "mail_messages"

    message_id: Mapped[str] = mapped_column(Text, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sender: Mapped[str] = mapped_column(Text)  # the From address (the envelope's when it had none)
    recipients: Mapped[list[str]] = mapped_column(JSONB, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text)  # created, noted, ignored, held (not final), rejected
    reason: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (Index("ix_mail_messages_sender_received_at", "sender", "received_at"),)


class MailAttachment(Base):
    """An attachment of a mail on an incident: always listed; its content only when stored."""

    __tablename__ = "mail_attachments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    message_id: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    stored: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # None unless stored
    refused: Mapped[str | None] = mapped_column(Text)  # why it was not stored
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationThread(Base):
    """Which incident a notification the notifier sent was about: a reply naming its Message-ID
    (``<notification_id@tierline>``) is a note on that incident — when it comes from the incident's
    reporter or from an address a notification about it was mailed to (``recipient``)."""

    __tablename__ = "notification_threads"

    notification_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    recipient: Mapped[str] = mapped_column(Text)  # an address, a person's name or a queue, as sent
