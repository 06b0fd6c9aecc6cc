"""Migration 0006 turns the old spaced ranks into positions 1, 2, 3 … without changing any order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from tierline_shared import db, migrations

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def _ranks(url: str, sql: str) -> list[tuple[str, ...]]:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            return [tuple(row) for row in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def test_spaced_ranks_become_positions_per_tier_in_the_same_order_and_go_back(new_database) -> None:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url, "0005")
    engine = db.create_engine(url)
    async with engine.begin() as conn:  # the file's queues at 0, 10, 20; API-made ones after (or tied)
        for name, tier, rank in [
            ("desk", "L1", 0),
            ("net", "L2", 10),
            ("tech", "L2", 20),
            ("vpn", "L2", 30),
            ("experts", "L3", 30),
            ("vip", "L1", 30),
            ("night", "L1", 30),  # same rank as vip: the name decided, and still does
        ]:
            await conn.execute(
                text(
                    "INSERT INTO queues (name, tier, rank, spec, position, managed_by, created_at,"
                    " updated_at) VALUES (:name, :tier, :rank, '{}', 0, 'config', now(), now())"
                ),
                {"name": name, "tier": tier, "rank": rank},
            )
        for name, rank in [("p1", 0), ("rest", 10), ("fast", 5)]:
            await conn.execute(
                text(
                    "INSERT INTO escalation_policies (name, rank, spec, managed_by, created_at, updated_at)"
                    " VALUES (:name, :rank, '{}', 'api', now(), now())"
                ),
                {"name": name, "rank": rank},
            )
    await engine.dispose()
    queues = "SELECT tier, name, rank::text FROM queues ORDER BY tier, rank, name"
    policies = "SELECT name, rank::text FROM escalation_policies ORDER BY rank, name"

    migrations.upgrade(MIGRATIONS, url)
    assert await _ranks(url, queues) == [
        ("L1", "desk", "1"),
        ("L1", "night", "2"),
        ("L1", "vip", "3"),
        ("L2", "net", "1"),
        ("L2", "tech", "2"),
        ("L2", "vpn", "3"),
        ("L3", "experts", "1"),
    ]
    assert await _ranks(url, policies) == [("p1", "1"), ("fast", "2"), ("rest", "3")]

    await asyncio.to_thread(command.downgrade, migrations.alembic_config(MIGRATIONS, url), "0005")
    assert await _ranks(url, policies) == [("p1", "0"), ("fast", "10"), ("rest", "20")]
    assert [(t, n, r) for t, n, r in await _ranks(url, queues) if t == "L2"] == [
        ("L2", "net", "0"),
        ("L2", "tech", "10"),
        ("L2", "vpn", "20"),
    ]
