"""The monitor keeps each incident's type (incident or service_request): SLA policies may match on it.

No backfill: a type not yet known (every incident before this) is read as an incident.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("type", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("incidents", "type")
