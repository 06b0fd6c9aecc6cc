"""The reports' read model: one row of facts per incident, the stints that held it, and the
queue of incidents whose facts are stale.

A statement-level trigger on ``timeline`` queues every incident a statement wrote lines for; the
refresher rewrites their facts from the incident and its whole timeline. The backfill is that
same path: every existing incident is queued here and refreshed by the running service.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incident_facts",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("created_at", _TZ, nullable=False),
        *(sa.Column(name, sa.Text, nullable=False) for name in ("service", "category", "priority")),
        *(sa.Column(name, sa.Text, nullable=False) for name in ("channel", "type", "status")),
        *(sa.Column(name, sa.Text) for name in ("tier", "queue", "agent", "vendor")),
        sa.Column("first_ack_at", _TZ),
        sa.Column("resolved_at", _TZ),
        sa.Column("reopen_count", sa.Integer, nullable=False),
        sa.Column("reassignments", sa.Integer, nullable=False),
        sa.Column("l1_only", sa.Boolean, nullable=False),
        sa.Column("first_contact", sa.Boolean),
        sa.Column("knowledge_linked", sa.Boolean, nullable=False),
        sa.Column("csat_score", sa.Integer),
        sa.Column("tiers_held", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("escalated_from", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("hold_seconds", sa.Float, nullable=False),
        sa.Column("response_met", sa.Boolean),
        sa.Column("resolution_met", sa.Boolean),
        sa.Column("breached", sa.Boolean, nullable=False),
        sa.Column("vendor_handoff_at", _TZ),
        sa.Column("vendor_ack_at", _TZ),
        sa.Column("vendor_resolved_at", _TZ),
        sa.Column("vendor_rejected", sa.Boolean, nullable=False),
        sa.Column("vendor_failed", sa.Boolean, nullable=False),
        sa.Column("vendor_response_met", sa.Boolean),
        sa.Column("vendor_resolution_met", sa.Boolean),
        sa.Column("refreshed_at", _TZ, nullable=False),
    )
    op.create_index("ix_incident_facts_created_at", "incident_facts", ["created_at"])
    op.create_table(
        "incident_stints",
        sa.Column("incident_id", sa.Uuid, primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True),
        sa.Column("tier", sa.Text, nullable=False),
        *(sa.Column(name, sa.Text) for name in ("queue", "agent", "vendor")),
        sa.Column("started_at", _TZ, nullable=False),
        sa.Column("ended_at", _TZ),
        sa.Column("ended_by", sa.Text),
        sa.Column("hold_seconds", sa.Float, nullable=False),
        sa.Column("handle_seconds", sa.Float),
    )
    op.create_table(
        "incident_facts_stale",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("incident_id", sa.Uuid, nullable=False),
    )
    op.execute(
        """
        CREATE FUNCTION intake_facts_stale() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO incident_facts_stale (incident_id)
            SELECT DISTINCT incident_id FROM new_lines;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER timeline_facts_stale AFTER INSERT ON timeline "
        "REFERENCING NEW TABLE AS new_lines FOR EACH STATEMENT EXECUTE FUNCTION intake_facts_stale()"
    )
    # the backfill: every incident so far, oldest first, for the running service to refresh
    op.execute("INSERT INTO incident_facts_stale (incident_id) SELECT id FROM incidents ORDER BY created_at")


def downgrade() -> None:
    op.execute("DROP TRIGGER timeline_facts_stale ON timeline")
    op.execute("DROP FUNCTION intake_facts_stale()")
    op.drop_table("incident_facts_stale")
    op.drop_table("incident_stints")
    op.drop_index("ix_incident_facts_created_at", table_name="incident_facts")
    op.drop_table("incident_facts")
