"""Incidents, SLA view, timeline, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from tierline_shared.messaging.tables import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("impact", sa.Text),
        sa.Column("urgency", sa.Text),
        sa.Column("priority", sa.Text, nullable=False),
        sa.Column("priority_source", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("reporter", sa.Text, nullable=False),
        sa.Column("dedup_key", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("tier", sa.Text),
        sa.Column("queue", sa.Text),
        sa.Column("assignee", sa.Text),
        sa.Column("vendor", sa.Text),
        sa.Column("vendor_case_id", sa.Uuid),
        sa.Column("vendor_reference", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS),
        sa.Column("resolved_at", TS),
        sa.Column("resolution_code", sa.Text),
        sa.Column("resolution_note", sa.Text),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status"),
        sa.CheckConstraint("priority IN ('P1', 'P2', 'P3', 'P4')", name="priority"),
    )
    op.create_index(
        "uq_incidents_open_dedup_key",
        "incidents",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text("dedup_key IS NOT NULL AND status <> 'resolved'"),
    )
    op.create_index("ix_incidents_created_at", "incidents", ["created_at"])
    op.create_table(
        "incident_sla",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("clock", sa.Text, primary_key=True),
        sa.Column("tier", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("breached_at", TS),
        sa.Column("met_at", TS),
    )
    op.create_table(
        "timeline",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("incident_id", sa.Uuid, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("event_id", sa.Uuid, unique=True),
        sa.Column("data", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("ix_timeline_incident_id", "timeline", ["incident_id"])
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_table("timeline")
    op.drop_table("incident_sla")
    op.drop_table("incidents")
