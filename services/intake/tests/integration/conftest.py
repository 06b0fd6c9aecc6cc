"""Fixtures of intake's integration tests: an app, or sessions, on a fresh database on the real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_intake.adapters.orm import outbox
from tierline_intake.bootstrap import create_app
from tierline_intake.config import DEFAULT_MATRIX, Settings
from tierline_intake.service_layer.commands import CreateIncident
from tierline_intake.service_layer.incidents import IntakeDeps, create_incident
from tierline_shared import db, migrations
from tierline_shared.clock import Clock, FixedClock
from tierline_shared.messaging.outbox import Outbox

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
# the tests' modules name the same key (ADMIN_KEY) to build their own requests
ADMIN_KEY = "tl_test-admin-key-for-intake-integration-tests"
PROJECTION_T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # the projection tests' T0, the same instant


def vpn_incident(**fields: Any) -> dict[str, Any]:
    """A valid body for POST /v1/incidents (VPN down, P2, by web), with ``fields`` changed."""
    body = {"title": "VPN down", "service": "vpn", "category": "network", "priority": "P2", "channel": "web"}
    return {**body, "reporter": "alice@example.com", **fields}


@pytest.fixture
def make_client(infra, new_database) -> Iterator[Callable[..., TestClient]]:
    """Build an intake app on a fresh database; keyword arguments override its Settings."""
    with ExitStack() as stack:

        def make(clock: Clock | None = None, **overrides: Any) -> TestClient:
            url = new_database("intake")
            migrations.upgrade(MIGRATIONS, url)
            settings = Settings(
                database_url=url,
                kafka_bootstrap_servers=infra.bootstrap_servers,
                bootstrap_api_key=ADMIN_KEY,
                config_dir=CONFIG_DIR,
                **overrides,
            )
            client = stack.enter_context(
                TestClient(
                    create_app(settings, clock=clock), headers={"Authorization": f"Bearer {ADMIN_KEY}"}
                )
            )
            client.database_url = url  # type: ignore[attr-defined]
            return client

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def deps() -> IntakeDeps:
    """Use-case dependencies on a clock fixed at PROJECTION_T0, for tests that apply projections directly."""
    clock = FixedClock(PROJECTION_T0)
    return IntakeDeps(
        outbox=Outbox(outbox, "/tierline/intake", clock), clock=clock, priority_matrix=DEFAULT_MATRIX.matrix
    )


@pytest.fixture
async def incident_id(sessions, deps: IntakeDeps) -> uuid.UUID:
    """A P2 incident created through the use case, for projections to act on."""
    cmd = CreateIncident(
        title="VPN down",
        description="",
        service="vpn",
        category="network",
        channel="web",
        reporter="alice@example.com",
        priority="P2",
    )
    async with sessions() as session, session.begin():
        incident, _ = await create_incident(deps.unit_of_work(session), deps, cmd)
    return incident.id


@pytest.fixture
async def sessions(new_database) -> AsyncIterator:
    """Sessions on a fresh, migrated database, for calling the service layer as a consumer would."""
    url = new_database("intake")
    migrations.upgrade(MIGRATIONS, url)
    engine = db.create_engine(url)
    yield db.session_factory(engine)
    await engine.dispose()


@pytest.fixture
def prefixed(make_client: Callable[..., TestClient]) -> tuple[TestClient, str]:
    """An intake on topics of its own, so that no other test's events are replayed into it."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    return make_client(kafka_topic_prefix=prefix), prefix
