"""The vendor registry: each vendor's endpoint, secrets, products, contract and retry policy.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vendors",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("managed_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("managed_by IN ('config', 'api')", name="managed_by"),
    )


def downgrade() -> None:
    op.drop_table("vendors")
