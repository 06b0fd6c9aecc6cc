"""People, teams, incident views, notifications, outbox, inbox and access.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from tierline_shared.auth import create_access_tables, drop_access_tables
from tierline_shared.messaging.tables import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _catalog(name: str) -> None:
    op.create_table(
        name,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("managed_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("managed_by IN ('config', 'api')", name="managed_by"),
    )


def upgrade() -> None:
    _catalog("people")
    _catalog("teams")
    op.create_table(
        "incident_views",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("incident_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("target", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("leased_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("facts", JSONB, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.UniqueConstraint("event_id", "role", "recipient", "contact", name="uq_notifications_once"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'dead', 'cancelled', 'skipped')", name="status"),
    )
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_notifications_incident", "notifications", ["incident_id", "created_at"])
    op.create_index("ix_notifications_created_at_id", "notifications", ["created_at", "id"])
    create_messaging_tables(op)
    create_access_tables(op)


def downgrade() -> None:
    drop_access_tables(op)
    drop_messaging_tables(op)
    op.drop_table("notifications")
    op.drop_table("incident_views")
    op.drop_table("teams")
    op.drop_table("people")
