"""The email channel: every mail taken in, the attachments of mails on incidents, and which
incident each notification the notifier sent was about and to whom (for replies naming its Message-ID,
and for who may add to an incident by mail). A held mail's row (outcome held) is not final: a later
delivery of its Message-ID takes it over.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("recipients", postgresql.JSONB, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("incident_id", sa.Uuid, nullable=True),
        sa.PrimaryKeyConstraint("message_id", name="pk_mail_messages"),
    )
    op.create_index("ix_mail_messages_sender_received_at", "mail_messages", ["sender", "received_at"])
    op.create_table(
        "mail_attachments",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("incident_id", sa.Uuid, nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("stored", sa.Boolean, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=True),
        sa.Column("refused", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mail_attachments"),
    )
    op.create_index("ix_mail_attachments_incident_id", "mail_attachments", ["incident_id"])
    op.create_table(
        "notification_threads",
        sa.Column("notification_id", sa.Uuid, nullable=False),
        sa.Column("incident_id", sa.Uuid, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name="pk_notification_threads"),
    )
    op.create_index("ix_notification_threads_incident_id", "notification_threads", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_notification_threads_incident_id", table_name="notification_threads")
    op.drop_table("notification_threads")
    op.drop_index("ix_mail_attachments_incident_id", table_name="mail_attachments")
    op.drop_table("mail_attachments")
    op.drop_index("ix_mail_messages_sender_received_at", table_name="mail_messages")
    op.drop_table("mail_messages")
