"""API keys (copied from intake's events) and per-key rate-limit windows.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from tierline_shared.auth import create_access_tables, drop_access_tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_access_tables(op)


def downgrade() -> None:
    drop_access_tables(op)
