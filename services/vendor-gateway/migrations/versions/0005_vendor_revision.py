"""Vendor announcements are ordered by a per-vendor revision.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("vendors", sa.Column("revision", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("vendors", "revision")
