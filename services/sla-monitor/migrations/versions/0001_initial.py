"""Clocks, closed incidents, outbox and inbox.

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
        "clocks",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("incident_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("tier", sa.Text),
        sa.Column("priority", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("stopped_at", TS),
        sa.CheckConstraint("kind IN ('response', 'resolution', 'tier')", name="kind"),
        sa.CheckConstraint("state IN ('running', 'met', 'breached', 'cancelled')", name="state"),
    )
    op.create_index("ix_clocks_incident_id", "clocks", ["incident_id"])
    op.create_index(
        "ix_clocks_running_due", "clocks", ["due_at"], postgresql_where=sa.text("state = 'running'")
    )
    op.create_index(
        "uq_clocks_running_kind",
        "clocks",
        ["incident_id", "kind"],
        unique=True,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_table(
        "closed_incidents",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("closed_at", TS, nullable=False),
    )
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_table("closed_incidents")
    op.drop_table("clocks")
