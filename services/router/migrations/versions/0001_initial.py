"""Assignments, queue cursors, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tierline_shared.messaging.tables import create_messaging_tables, drop_messaging_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("priority", sa.Text, nullable=False),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("queue", sa.Text),
        sa.Column("assignee", sa.Text),
        sa.Column("vendor", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("escalations", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("tier IN ('L1', 'L2', 'L3', 'L4')", name="tier"),
        sa.CheckConstraint("status IN ('active', 'released')", name="status"),
    )
    op.create_table(
        "queue_cursors",
        sa.Column("queue", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_table("queue_cursors")
    op.drop_table("assignments")
