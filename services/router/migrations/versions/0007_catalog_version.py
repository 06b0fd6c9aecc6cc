"""A version for the routing configuration: a new one by every statement that changes it.

Agents, queues and escalation policies change only through the admin API and the policy file, but
any replica may make the change. A trigger on each of the three tables gives ``catalog_version`` a
new random version in the same transaction as the change (a queue's rotation is not configuration:
updating only ``position`` keeps the version), so a process may keep the catalog it built while
the version it reads is the one it built it at. Random, not counted: a rolled-back change can never
hand its number to a later, different one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# every column of the table that routing reads (queues: all but the rotation's position)
WATCHED = {
    "agents": "",
    "queues": " OF name, tier, rank, spec, managed_by, created_at, updated_at",
    "escalation_policies": "",
}


def upgrade() -> None:
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("version", sa.Uuid(), nullable=False),
    )
    op.execute("INSERT INTO catalog_version (id, version) VALUES (1, gen_random_uuid())")
    op.execute(
        """
        CREATE FUNCTION router_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE catalog_version SET version = gen_random_uuid();
            RETURN NULL;
        END
        $$
        """
    )
    for table, columns in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION router_catalog_changed()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_updated AFTER UPDATE{columns} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION router_catalog_changed()"
        )


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_updated ON {table}")
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION router_catalog_changed()")
    op.drop_table("catalog_version")
