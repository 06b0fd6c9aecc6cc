"""Incident snapshots, cases, deliveries, seen callbacks, outbox and inbox.

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
        "incident_snapshots",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("data", JSONB, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("incident_id", sa.Uuid, nullable=False),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("vendor_reference", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'open', 'failed', 'resolved')", name="status"),
    )
    op.create_index("ix_cases_incident_id", "cases", ["incident_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
    )
    op.create_index("ix_deliveries_case_id", "deliveries", ["case_id"])
    op.create_index(
        "ix_deliveries_pending_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "seen_callbacks",
        sa.Column("webhook_id", sa.Text, primary_key=True),
        sa.Column("vendor", sa.Text, primary_key=True),
        sa.Column("received_at", TS, nullable=False),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_table("seen_callbacks")
    op.drop_table("deliveries")
    op.drop_table("cases")
    op.drop_table("incident_snapshots")
