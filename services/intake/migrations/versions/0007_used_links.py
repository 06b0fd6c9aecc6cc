"""Links that act (acknowledge, CSAT) are used once: the nonces of those that did.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_links",
        sa.Column("nonce", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Uuid, nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_used_links_incident_id", "used_links", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_used_links_incident_id", table_name="used_links")
    op.drop_table("used_links")
