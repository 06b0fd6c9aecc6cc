"""SLA policies ranked 1, 2, 3 … in match order, no gaps.

Ranks used to be spaced by ten for the file's policies, with API-made ones after them; they are now
positions that every change renumbers, so an existing order is renumbered as it stands.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _renumber(first: int, step: int) -> None:
    op.execute(
        f"""
        UPDATE sla_policies SET rank = ordered.position FROM (
            SELECT name, {first} + {step} * (row_number() OVER (ORDER BY rank, name) - 1) AS position
            FROM sla_policies
        ) AS ordered
        WHERE sla_policies.name = ordered.name
        """
    )


def upgrade() -> None:
    _renumber(first=1, step=1)


def downgrade() -> None:
    _renumber(first=0, step=10)  # the earlier spacing (0, 10, 20 …), same order
