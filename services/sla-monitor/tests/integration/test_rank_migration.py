"""Migration 0004 turns the old spaced ranks into positions 1, 2, 3 … without changing any order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from tierline_shared import db, migrations

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ORDER = "SELECT name, rank::text FROM sla_policies ORDER BY rank, name"


async def _ranks(url: str) -> list[tuple[str, str]]:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            return [(name, rank) for name, rank in (await conn.execute(text(ORDER))).all()]
    finally:
        await engine.dispose()


async def test_spaced_ranks_become_positions_in_the_same_order_and_go_back(new_database) -> None:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url, "0003")
    engine = db.create_engine(url)
    async with engine.begin() as conn:  # the file's at 0, 10, 20, 30; API-made ones after (or tied)
        for name, rank in [("p1", 0), ("p2", 10), ("p3", 20), ("p4", 30), ("gold", 40), ("acme", 40)]:
            await conn.execute(
                text(
                    "INSERT INTO sla_policies (name, rank, spec, managed_by, updated_at)"
                    " VALUES (:name, :rank, '{}', 'config', now())"
                ),
                {"name": name, "rank": rank},
            )
    await engine.dispose()

    migrations.upgrade(MIGRATIONS, url)
    ranked = [("p1", "1"), ("p2", "2"), ("p3", "3"), ("p4", "4"), ("acme", "5"), ("gold", "6")]
    assert await _ranks(url) == ranked

    await asyncio.to_thread(command.downgrade, migrations.alembic_config(MIGRATIONS, url), "0003")
    assert await _ranks(url) == [(name, str((int(rank) - 1) * 10)) for name, rank in ranked]
