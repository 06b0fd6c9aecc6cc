"""What the console needs from intake: who works with an API key, and whether an SLA clock's
latest warning was the policy's last.

``api_key_people`` is intake's own: the ``api_keys`` table every service copies from intake's
events stays the same everywhere. Existing clocks read as not at their last warning until the
next warning arrives.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key_people",
        sa.Column("key_id", sa.Uuid, nullable=False),
        sa.Column("person", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_key_people"),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_api_key_people_key_id_api_keys", ondelete="CASCADE"
        ),
    )
    op.add_column(
        "incident_sla",
        sa.Column("last_warning", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )


def downgrade() -> None:
    op.drop_column("incident_sla", "last_warning")
    op.drop_table("api_key_people")
