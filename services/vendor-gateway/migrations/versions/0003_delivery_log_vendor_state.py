"""The delivery log (one row per attempt) and each vendor endpoint's enabled state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


CASE_STATES = "('pending', 'open', 'acknowledged', 'failed', 'resolved', 'rejected')"


def upgrade() -> None:
    # vendors acknowledge and reject cases now
    op.drop_constraint("status", "cases", type_="check")
    op.create_check_constraint("status", "cases", f"status IN {CASE_STATES}")
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("delivery_id", sa.Text, nullable=False),
        sa.Column("vendor", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("response_excerpt", sa.Text, nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
    )
    op.create_index("ix_delivery_attempts_delivery_id", "delivery_attempts", ["delivery_id"])
    op.create_table(
        "vendor_state",
        sa.Column("vendor", sa.Text, primary_key=True),
        sa.Column("is_enabled", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.execute("UPDATE cases SET status = 'open' WHERE status = 'acknowledged'")
    op.execute("UPDATE cases SET status = 'failed' WHERE status = 'rejected'")
    op.drop_constraint("status", "cases", type_="check")
    op.create_check_constraint("status", "cases", "status IN ('pending', 'open', 'failed', 'resolved')")
    op.drop_table("vendor_state")
    op.drop_index("ix_delivery_attempts_delivery_id", table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
