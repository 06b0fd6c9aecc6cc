"""Outbox and inbox tables, which every service keeps in its own database.

The same column definitions feed both the runtime metadata and the services'
Alembic migrations, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

OUTBOX = "outbox"
INBOX = "inbox"


def _outbox_columns() -> list[Any]:
    return [
        Column("seq", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("headers", JSONB, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
    ]


def _outbox_indexes(table_name: str = OUTBOX) -> list[dict[str, Any]]:
    return [
        {
            "name": "ix_outbox_unpublished",
            "columns": ["seq"],
            "postgresql_where": text("published_at IS NULL"),
        }
    ]


def _inbox_columns() -> list[Any]:
    return [
        Column("consumer", Text, nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    ]


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare outbox and inbox on a service's metadata."""
    outbox = Table(OUTBOX, metadata, *_outbox_columns())
    for spec in _outbox_indexes():
        Index(
            spec["name"],
            *[outbox.c[c] for c in spec["columns"]],
            postgresql_where=spec["postgresql_where"],
        )
    inbox = Table(INBOX, metadata, *_inbox_columns())
    return outbox, inbox


def create_messaging_tables(op: Any) -> None:
    """Alembic upgrade step: create outbox and inbox (call from a service migration)."""
    op.create_table(OUTBOX, *_outbox_columns())
    for spec in _outbox_indexes():
        op.create_index(spec["name"], OUTBOX, spec["columns"], postgresql_where=spec["postgresql_where"])
    op.create_table(INBOX, *_inbox_columns())


def drop_messaging_tables(op: Any) -> None:
    op.drop_table(INBOX)
    op.drop_index("ix_outbox_unpublished", table_name=OUTBOX)
    op.drop_table(OUTBOX)
