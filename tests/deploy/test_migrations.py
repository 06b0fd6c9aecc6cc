"""Every service's migrations go up, all the way down, and up again on the real PostgreSQL.

And the schema they build is the one the service's ORM declares, so neither drifts.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from tierline_shared.db import asyncpg_url
from tierline_shared.migrations import alembic_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    "intake": "tierline_intake",
    "router": "tierline_router",
    "sla-monitor": "tierline_sla_monitor",
    "vendor-gateway": "tierline_vendor_gateway",
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_migrations_round_trip_and_match_the_models(new_database, service: str) -> None:
    url = new_database(service.replace("-", "_"))
    cfg = alembic_config(ROOT / "services" / service / "migrations", url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    metadata = importlib.import_module(f"{SERVICES[service]}.adapters.orm").Base.metadata
    diff = asyncio.run(_schema_diff(url, metadata))
    assert diff == [], f"{service}: migrations and models differ: {diff}"


async def _schema_diff(url: str, metadata: MetaData) -> list[Any]:
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await engine.dispose()
