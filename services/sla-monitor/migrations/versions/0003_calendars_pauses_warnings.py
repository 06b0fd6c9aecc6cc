"""Business calendars, pauses, warnings and vendor clocks; policies and calendars in the database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
KINDS = "('response', 'resolution', 'tier', 'vendor_response', 'vendor_resolution')"
STATES = "('running', 'paused', 'met', 'breached', 'cancelled')"


def upgrade() -> None:
    op.drop_constraint("kind", "clocks", type_="check")
    op.drop_constraint("state", "clocks", type_="check")
    op.create_check_constraint("kind", "clocks", f"kind IN {KINDS}")
    op.create_check_constraint("state", "clocks", f"state IN {STATES}")
    for name, column in (
        ("service", sa.Text),
        ("vendor", sa.Text),
        ("policy", sa.Text),
        ("running_since", TS),
        ("fire_at", TS),
        ("finished_seconds", sa.Float),
    ):
        op.add_column("clocks", sa.Column(name, column))
    op.add_column("clocks", sa.Column("calendar", sa.Text, nullable=False, server_default="24x7"))
    op.add_column("clocks", sa.Column("elapsed_seconds", sa.Float, nullable=False, server_default="0"))
    op.add_column("clocks", sa.Column("target_seconds", sa.Float, nullable=False, server_default="0"))
    op.add_column("clocks", sa.Column("warnings", JSONB, nullable=False, server_default="[]"))
    op.add_column("clocks", sa.Column("warned", sa.Integer, nullable=False, server_default="0"))
    # clocks armed before this revision: 24x7, running since they started, fired at their due time
    op.execute(
        "UPDATE clocks SET target_seconds = extract(epoch FROM due_at - started_at), "
        "running_since = CASE WHEN state = 'running' THEN started_at END, "
        "fire_at = CASE WHEN state = 'running' THEN due_at END"
    )
    for column in ("calendar", "elapsed_seconds", "target_seconds", "warnings", "warned"):
        op.alter_column("clocks", column, server_default=None)
    op.alter_column("clocks", "due_at", nullable=True)
    op.drop_index("ix_clocks_running_due", table_name="clocks")
    op.drop_index("uq_clocks_running_kind", table_name="clocks")
    op.create_index(
        "ix_clocks_running_fire", "clocks", ["fire_at"], postgresql_where=sa.text("state = 'running'")
    )
    op.create_index(
        "uq_clocks_open_kind",
        "clocks",
        ["incident_id", "kind"],
        unique=True,
        postgresql_where=sa.text("state IN ('running', 'paused')"),
    )
    op.create_index("ix_clocks_started_at", "clocks", ["started_at"])
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("priority", sa.Text),
        sa.Column("service", sa.Text),
        sa.Column("customer", sa.Text),
        sa.Column("policy", sa.Text),
        sa.Column("tier", sa.Text),
        sa.Column("hold_reason", sa.Text),
        sa.Column("closed_at", TS),
    )
    op.execute(
        "INSERT INTO incidents (incident_id, closed_at) SELECT incident_id, closed_at FROM closed_incidents"
    )
    op.drop_table("closed_incidents")
    op.create_table(
        "sla_policies",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("managed_by", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "calendars",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("managed_by", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("calendars")
    op.drop_table("sla_policies")
    op.create_table(
        "closed_incidents",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("closed_at", TS, nullable=False),
    )
    op.execute(
        "INSERT INTO closed_incidents (incident_id, closed_at) "
        "SELECT incident_id, closed_at FROM incidents WHERE closed_at IS NOT NULL"
    )
    op.drop_table("incidents")
    op.drop_index("ix_clocks_started_at", table_name="clocks")
    op.drop_index("uq_clocks_open_kind", table_name="clocks")
    op.drop_index("ix_clocks_running_fire", table_name="clocks")
    # what the old schema cannot hold goes: vendor clocks, pauses
    op.execute("DELETE FROM clocks WHERE kind LIKE 'vendor_%' OR state = 'paused' OR due_at IS NULL")
    op.create_index(
        "uq_clocks_running_kind",
        "clocks",
        ["incident_id", "kind"],
        unique=True,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(
        "ix_clocks_running_due", "clocks", ["due_at"], postgresql_where=sa.text("state = 'running'")
    )
    op.alter_column("clocks", "due_at", nullable=False)
    for column in (
        "warned",
        "warnings",
        "target_seconds",
        "elapsed_seconds",
        "calendar",
        "finished_seconds",
        "fire_at",
        "running_since",
        "policy",
        "vendor",
        "service",
    ):
        op.drop_column("clocks", column)
    op.drop_constraint("state", "clocks", type_="check")
    op.drop_constraint("kind", "clocks", type_="check")
    op.create_check_constraint("kind", "clocks", "kind IN ('response', 'resolution', 'tier')")
    op.create_check_constraint("state", "clocks", "state IN ('running', 'met', 'breached', 'cancelled')")
