"""Agents, queues and escalation policies in the database; assignments learn waiting and acknowledgement.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("managed_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        *_stamps(),
    )
    op.create_table(
        "queues",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        *_stamps(),
        sa.CheckConstraint("tier IN ('L1', 'L2', 'L3')", name="queue_tier"),
    )
    op.create_table(
        "escalation_policies",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        *_stamps(),
    )
    op.drop_table("queue_cursors")
    op.add_column("assignments", sa.Column("product", sa.Text))
    op.add_column("assignments", sa.Column("policy", sa.Text))
    op.add_column("assignments", sa.Column("tier_entered_at", TS))
    op.execute("UPDATE assignments SET tier_entered_at = updated_at")
    op.alter_column("assignments", "tier_entered_at", nullable=False)
    op.add_column("assignments", sa.Column("waiting_since", TS))
    op.add_column("assignments", sa.Column("rejected_by", JSONB, nullable=False, server_default="[]"))
    op.add_column(
        "assignments", sa.Column("is_acknowledged", sa.Boolean, nullable=False, server_default="false")
    )
    op.add_column("assignments", sa.Column("ack_due_at", TS))
    op.add_column("assignments", sa.Column("renotified", sa.Integer, nullable=False, server_default="0"))
    op.create_index(
        "assignments_waiting",
        "assignments",
        ["queue", "waiting_since"],
        postgresql_where=sa.text("status = 'active' AND assignee IS NULL AND waiting_since IS NOT NULL"),
    )
    op.create_index(
        "assignments_held", "assignments", ["assignee"], postgresql_where=sa.text("status = 'active'")
    )
    op.create_index(
        "assignments_ack_due",
        "assignments",
        ["ack_due_at"],
        postgresql_where=sa.text("ack_due_at IS NOT NULL"),
    )


def downgrade() -> None:
    for index in ("assignments_ack_due", "assignments_held", "assignments_waiting"):
        op.drop_index(index, table_name="assignments")
    for column in (
        "renotified",
        "ack_due_at",
        "is_acknowledged",
        "rejected_by",
        "waiting_since",
        "tier_entered_at",
        "policy",
        "product",
    ):
        op.drop_column("assignments", column)
    op.create_table(
        "queue_cursors",
        sa.Column("queue", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    op.drop_table("escalation_policies")
    op.drop_table("queues")
    op.drop_table("agents")
