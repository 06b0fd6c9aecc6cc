"""A version for the SLA catalog: a new one by every statement that changes a policy or a calendar.

SLA policies and calendars change only through the admin API and the policy file, but any replica
may make the change. A trigger on each table gives ``catalog_version`` a new random version in the
same transaction as the change, so a process may keep the catalog it built (durations parsed,
calendars read) while the version it reads is the one it built it at. Random, not counted: a
rolled-back change can never hand its number to a later, different one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("sla_policies", "calendars")


def upgrade() -> None:
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("version", sa.Uuid(), nullable=False),
    )
    op.execute("INSERT INTO catalog_version (id, version) VALUES (1, gen_random_uuid())")
    op.execute(
        """
        CREATE FUNCTION sla_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE catalog_version SET version = gen_random_uuid();
            RETURN NULL;
        END
        $$
        """
    )
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION sla_catalog_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_updated AFTER UPDATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION sla_catalog_changed()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_updated ON {table}")
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION sla_catalog_changed()")
    op.drop_table("catalog_version")
