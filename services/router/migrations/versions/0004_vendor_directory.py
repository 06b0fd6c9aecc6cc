"""The vendor directory: what the gateway's registry says each vendor serves, and if it takes cases.

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


def upgrade() -> None:
    op.create_table(
        "vendor_directory",
        sa.Column("vendor", sa.Text, primary_key=True),
        sa.Column("products", JSONB, nullable=False),
        sa.Column("categories", JSONB, nullable=False),
        sa.Column("contract", JSONB, nullable=True),
        sa.Column("is_enabled", sa.Boolean, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("vendor_directory")
