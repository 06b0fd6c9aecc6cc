"""A delivery's attempt in flight is leased until a time; cases are listed newest first.

``leased_until`` tells "retry now" an attempt in flight (which must not be sent twice) from a
delivery waiting for its next attempt; the index serves GET /v1/cases' keyset pages.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_cases_created_at_id", "cases", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_created_at_id", table_name="cases")
    op.drop_column("deliveries", "leased_until")
