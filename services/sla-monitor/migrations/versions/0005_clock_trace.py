"""Clocks keep the trace context of the event that started them.

A warning or breach fires long after the event that armed its clock; with the clock's
``traceparent`` the announcement continues that incident's trace instead of starting a new one.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clocks", sa.Column("traceparent", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("clocks", "traceparent")
