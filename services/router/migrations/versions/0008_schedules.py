"""On-call schedules: their specs, overrides, and the shift-change worker's watch rows.

``schedules`` and ``schedule_overrides`` are routing configuration: the triggers of migration
0007 (``router_catalog_changed``) give ``catalog_version`` a new version with every change, so
every replica reloads who is on call. ``schedule_watch`` is runtime state (not configuration):
one row per schedule, who the worker last saw on call and when to look again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("schedules", "schedule_overrides")


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("spec", JSONB(), nullable=False),
        sa.Column("managed_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "schedule_overrides",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("schedule", sa.Text(), sa.ForeignKey("schedules.name", ondelete="CASCADE"), nullable=False),
        sa.Column("person", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("schedule_overrides_by_end", "schedule_overrides", ["schedule", "ends_at"])
    op.create_table(
        "schedule_watch",
        sa.Column("schedule", sa.Text(), primary_key=True),
        sa.Column("person", sa.Text(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("schedule_watch_due", "schedule_watch", ["check_at"])
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION router_catalog_changed()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.drop_table("schedule_watch")
    op.drop_table("schedule_overrides")
    op.drop_table("schedules")
