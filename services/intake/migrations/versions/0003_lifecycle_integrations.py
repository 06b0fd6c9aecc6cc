"""Full lifecycle (hold, reopen, close, CSAT), dedup occurrences, knowledge, problems,
integrations and idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from tierline_shared.idempotency import create_idempotency_table

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
OPEN = "status IN ('open', 'acknowledged', 'on_hold')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_incidents_status"), "incidents", type_="check")
    op.create_check_constraint(
        "status", "incidents", "status IN ('open', 'acknowledged', 'on_hold', 'resolved', 'closed')"
    )
    op.drop_index("uq_incidents_open_dedup_key", table_name="incidents")
    op.create_index(
        "uq_incidents_open_dedup_key",
        "incidents",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text(f"dedup_key IS NOT NULL AND {OPEN}"),
    )
    op.add_column("incidents", sa.Column("occurrences", sa.Integer, nullable=False, server_default="1"))
    op.add_column("incidents", sa.Column("last_seen_at", TS))
    op.add_column("incidents", sa.Column("hold_reason", sa.Text))
    op.add_column("incidents", sa.Column("closed_at", TS))
    op.add_column("incidents", sa.Column("reopen_count", sa.Integer, nullable=False, server_default="0"))
    op.add_column("incidents", sa.Column("csat_score", sa.Integer))
    op.add_column("incidents", sa.Column("csat_comment", sa.Text))
    op.add_column(
        "incidents", sa.Column("knowledge", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    op.add_column("incidents", sa.Column("knowledge_article_used", sa.Text))
    op.add_column("incidents", sa.Column("problem_id", sa.Uuid))
    op.add_column("incidents", sa.Column("integration_id", sa.Uuid))
    op.add_column(
        "incidents", sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    op.create_check_constraint("csat", "incidents", "csat_score IS NULL OR csat_score BETWEEN 1 AND 5")
    op.create_index("ix_incidents_status_created", "incidents", ["status", "created_at"])
    op.create_index("ix_incidents_problem_id", "incidents", ["problem_id"])
    op.create_table(
        "integrations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("key_hint", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
        sa.CheckConstraint("type IN ('pagerduty', 'alertmanager')", name="type"),
    )
    op.create_table(
        "problems",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("root_cause", sa.Text),
        sa.Column("workaround", sa.Text),
        sa.Column("known_error", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    create_idempotency_table(op)


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("problems")
    op.drop_table("integrations")
    op.drop_index("ix_incidents_problem_id", table_name="incidents")
    op.drop_index("ix_incidents_status_created", table_name="incidents")
    op.drop_constraint(op.f("ck_incidents_csat"), "incidents", type_="check")
    for column in (
        "details",
        "integration_id",
        "problem_id",
        "knowledge_article_used",
        "knowledge",
        "csat_comment",
        "csat_score",
        "reopen_count",
        "closed_at",
        "hold_reason",
        "last_seen_at",
        "occurrences",
    ):
        op.drop_column("incidents", column)
    op.drop_index("uq_incidents_open_dedup_key", table_name="incidents")
    op.create_index(
        "uq_incidents_open_dedup_key",
        "incidents",
        ["dedup_key"],
        unique=True,
        postgresql_where=sa.text("dedup_key IS NOT NULL AND status <> 'resolved'"),
    )
    op.drop_constraint(op.f("ck_incidents_status"), "incidents", type_="check")
    op.create_check_constraint("status", "incidents", "status IN ('open', 'acknowledged', 'resolved')")
