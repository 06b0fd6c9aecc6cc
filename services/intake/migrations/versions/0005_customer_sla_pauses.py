"""An optional customer on incidents; paused SLA clocks and warnings in the SLA view.

A paused clock has no due time (it moves on resume), only the business time it has left.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("customer", sa.Text))
    op.alter_column("incident_sla", "due_at", nullable=True)
    op.add_column("incident_sla", sa.Column("remaining_seconds", sa.Float))
    op.add_column("incident_sla", sa.Column("warning_threshold", sa.Float))


def downgrade() -> None:
    # The older view needs a due time: a paused clock would be due its time left from now.
    op.execute(
        "UPDATE incident_sla SET due_at = now() + coalesce(remaining_seconds, 0) * interval '1 second'"
        " WHERE due_at IS NULL"
    )
    op.drop_column("incident_sla", "warning_threshold")
    op.drop_column("incident_sla", "remaining_seconds")
    op.alter_column("incident_sla", "due_at", nullable=False)
    op.drop_column("incidents", "customer")
