"""Problems are listed newest first: an index in the list's keyset order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_problems_created_at", "problems", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_problems_created_at", table_name="problems")
