"""Queues and escalation policies ranked 1, 2, 3 … in match order (a queue among its tier's), no gaps.

Ranks used to be spaced by ten for the file's entries, with API-made ones after them; they are now
positions that every change renumbers, so an existing order is renumbered as it stands.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _renumber(table: str, partition: str, first: int, step: int) -> None:
    op.execute(
        f"""
        UPDATE {table} SET rank = ordered.position FROM (
            SELECT name,
                   {first} + {step} * (row_number() OVER ({partition} ORDER BY rank, name) - 1) AS position
            FROM {table}
        ) AS ordered
        WHERE {table}.name = ordered.name
        """
    )


def upgrade() -> None:
    _renumber("queues", "PARTITION BY tier", first=1, step=1)
    _renumber("escalation_policies", "", first=1, step=1)


def downgrade() -> None:
    # the earlier spacing (0, 10, 20 …), same order
    _renumber("queues", "PARTITION BY tier", first=0, step=10)
    _renumber("escalation_policies", "", first=0, step=10)
