"""A migrated router database, a policy applied to it, and helpers to drive use cases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tierline_router.adapters.orm import AssignmentRow, outbox
from tierline_router.domain.model import RoutingConfig
from tierline_router.service_layer import admin
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import Event, IncidentCreated
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.outbox import Outbox

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def config(**overrides: Any) -> RoutingConfig:
    """A small policy: three desk agents, one network specialist, experts with nobody on shift yet."""
    raw: dict[str, Any] = {
        "agents": [
            {"name": "ann", "capacity": 2},
            {"name": "bob", "capacity": 2},
            {"name": "cat", "capacity": 2},
            {"name": "dan", "skills": ["network"], "capacity": 1},
            {"name": "eve", "skills": ["network"], "capacity": 1, "available": False},
        ],
        "queues": [
            {"name": "desk", "tier": "L1", "agents": ["ann", "bob", "cat"]},
            {
                "name": "net",
                "tier": "L2",
                "categories": ["network"],
                "agents": ["dan"],
                "skills": ["network"],
            },
            {"name": "tech", "tier": "L2", "agents": ["bob"]},
            {"name": "experts", "tier": "L3", "agents": ["eve"]},
        ],
        "escalation_policies": [
            {
                "name": "p1",
                "priorities": ["P1"],
                "ladder": [{"tier": "L2", "budget": "5s"}, {"tier": "L3", "budget": "9s"}, {"tier": "L4"}],
                "ack_timeout": "60s",
                "repeat": 2,
            },
            {
                "name": "rest",
                "ladder": [
                    {"tier": "L1", "budget": "10s"},
                    {"tier": "L2", "budget": "20s"},
                    {"tier": "L3", "budget": "30s"},
                    {"tier": "L4"},
                ],
            },
        ],
        "vendors": [
            {"vendor": "acme", "services": ["vpn"], "contract": {"response": "1h", "resolution": "8h"}},
            {"vendor": "initech", "services": ["vpn"]},
        ],
    }
    raw.update(overrides)
    return RoutingConfig.model_validate(raw)


class Harness:
    """Runs router use cases one transaction each, like the consumer does, on a controllable clock."""

    def __init__(self, sessions: Any, cfg: RoutingConfig) -> None:
        self.sessions = sessions
        self.clock = FixedClock(T0)
        self.deps = RouterDeps(
            outbox=Outbox(outbox, "/tierline/router", self.clock), clock=self.clock, vendors=list(cfg.vendors)
        )

    async def run(self, use_case: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """``use_case(uow, deps, *args, **kwargs)`` in one committed transaction, as the consumer runs it."""
        async with self.sessions() as session, session.begin():
            return await use_case(RouterUnitOfWork(session, self.deps.outbox), self.deps, *args, **kwargs)

    async def row(self, incident_id: uuid.UUID) -> AssignmentRow:
        async with self.sessions() as session:
            row = await session.get(AssignmentRow, incident_id)
            assert row is not None
            return row

    async def published(self, kind: type[Event] | None = None) -> list[Any]:
        async with self.sessions() as session:
            rows = (await session.execute(select(outbox).order_by(outbox.c.seq))).all()
        events = [cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]
        return [e for e in events if kind is None or isinstance(e, kind)]


@pytest.fixture
async def router_db(new_database) -> AsyncIterator[Any]:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url)
    engine = db.create_engine(url)
    yield db.session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def harness(router_db) -> Harness:
    cfg = config()
    h = Harness(router_db, cfg)
    await h.run(admin.apply_config, cfg)
    return h


def created(
    service: str = "mail", category: str = "email", priority: str = "P3", product: str | None = None
) -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="t",
        service=service,
        category=category,
        product=product,
        priority=priority,
        channel="api",
        reporter="r",
        created_at=T0,
    )
