"""Incidents have a type: incident (the default, every existing one) or service_request.

No index: the list filters it beside others over its created_at order, as it does channel.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the server default fills every existing row: they were all incidents
    op.add_column(
        "incidents", sa.Column("type", sa.Text, nullable=False, server_default=sa.text("'incident'"))
    )


def downgrade() -> None:
    op.drop_column("incidents", "type")
