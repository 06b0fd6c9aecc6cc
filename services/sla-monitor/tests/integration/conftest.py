"""Two ways in: a migrated SLA database with a harness driving the use cases, or the started app.

The harness runs each use case in its own transaction, as the consumer does, on a FixedClock the
test moves, so days of business time pass in milliseconds. The app (``monitor``) runs on its own
database, topic prefix and policy file, on a FixedClock too, so business time read back is exact.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlalchemy import select

from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import Event, IncidentCreated
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.runtime import Runtime
from tierline_shared.testing import app_client, app_settings, asgi_client, issue_api_key
from tierline_sla_monitor.adapters.orm import ClockRow, outbox
from tierline_sla_monitor.bootstrap import create_app
from tierline_sla_monitor.config import Settings
from tierline_sla_monitor.domain.policy import SlaConfig
from tierline_sla_monitor.service_layer import catalog, clocks, timers
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday; Europe/Berlin is on CET (UTC+1) all month
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
# Office hours in Berlin for P3/P4; P1/P2 on 24x7; "flat" P3s on 24x7 (plain priority-change arithmetic).
ENGINE_CONFIG = SlaConfig.model_validate(
    {
        "calendars": [
            {"name": "office", "timezone": "Europe/Berlin", "hours": {d: ["09:00-17:00"] for d in WORKDAYS}}
        ],
        "policies": [
            {
                "name": "p3-flat",
                "priorities": ["P3"],
                "services": ["flat"],
                "response": "4h",
                "resolution": "24h",
                "pause_on": ["awaiting_customer", "awaiting_vendor"],
            },
            {"name": "p1", "priorities": ["P1"], "response": "15m", "resolution": "4h"},
            {"name": "p2", "priorities": ["P2"], "response": "30m", "resolution": "8h"},
            {
                "name": "p3",
                "priorities": ["P3"],
                "response": "4h",
                "resolution": "16h",
                "calendar": "office",
                "pause_on": ["awaiting_customer", "awaiting_vendor"],
            },
            {"name": "p4", "priorities": ["P4"], "response": "8h", "resolution": "48h", "calendar": "office"},
        ],
    }
)


class Harness:
    """SLA use cases one transaction each, on a clock that moves only when told to."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        self.clock = FixedClock(T0)
        self.deps = clocks.SlaDeps(
            outbox=Outbox(outbox, "/tierline/sla-monitor", self.clock), clock=self.clock, config=SlaConfig()
        )
        self._seen = 0

    def at(self, moment: datetime) -> None:
        self.clock.advance(moment - self.clock.now())

    async def run(self, use_case: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """``use_case(uow or session, *args, **kwargs)`` in one committed transaction.

        A use case taking an ``SlaUnitOfWork`` gets one over the transaction; anything else (a
        bound handler, the catalog) gets the session, as the consumer and the app give it.
        """
        async with self.sessions() as session, session.begin():
            first = SlaUnitOfWork(session, self.deps.outbox) if _takes_uow(use_case) else session
            return await use_case(first, *args, **kwargs)

    async def create(
        self,
        priority: str,
        service: str = "mail",
        at: datetime = T0,
        customer: str | None = None,
        incident_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """IncidentCreated consumed: its response and resolution clocks start at ``at``."""
        event = IncidentCreated(
            incident_id=incident_id or uuid.uuid4(),
            title="t",
            service=service,
            category="c",
            customer=customer,
            priority=priority,
            channel="api",
            reporter="r",
            created_at=at,
        )
        await self.run(clocks.start_incident_clocks, self.deps, event)
        return event.incident_id

    async def fire(self, moment: datetime | None = None, *, limit: int = 100) -> int:
        """Move the clock to ``moment`` and poll until nothing is due; how many clocks were handled."""
        if moment is not None:
            self.at(moment)
        total = 0
        while fired := await self.run(timers.fire_due_clocks, self.deps, limit=limit):
            total += fired
        return total

    async def clocks(self, incident_id: uuid.UUID) -> dict[str, ClockRow]:
        """The incident's clocks by kind (the latest of each kind)."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ClockRow).where(ClockRow.incident_id == incident_id).order_by(ClockRow.started_at)
            )
            return {r.kind: r for r in rows}

    async def all_clocks(self, incident_id: uuid.UUID) -> list[ClockRow]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ClockRow)
                .where(ClockRow.incident_id == incident_id)
                .order_by(ClockRow.started_at, ClockRow.kind)
            )
            return list(rows)

    async def published(
        self, kind: type[Event] | None = None, incident_id: uuid.UUID | None = None
    ) -> list[Any]:
        """Every event in the outbox, in order, optionally of one type and one incident."""
        async with self.sessions() as session:
            rows = (await session.execute(select(outbox).order_by(outbox.c.seq))).all()
        self._seen = len(rows)
        return [
            e
            for e in (_decode(r) for r in rows)
            if (kind is None or isinstance(e, kind)) and (incident_id is None or e.incident_id == incident_id)
        ]

    async def new_events(self) -> list[Any]:
        """Events added to the outbox since the last call (or the last ``published``)."""
        async with self.sessions() as session:
            rows = (await session.execute(select(outbox).order_by(outbox.c.seq).offset(self._seen))).all()
        self._seen += len(rows)
        return [_decode(r) for r in rows]


def _takes_uow(use_case: Callable[..., Any]) -> bool:
    first = next(iter(inspect.signature(use_case).parameters.values()), None)
    return first is not None and first.annotation in (SlaUnitOfWork, "SlaUnitOfWork")


def _decode(row: Any) -> Any:
    return cloudevents.decode([(k, v.encode()) for k, v in row.headers], row.value).data


@pytest.fixture
async def sla_sessions(new_database) -> AsyncIterator[Any]:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url)
    engine = db.create_engine(url, pool_size=20)
    yield db.session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def harness(sla_sessions) -> Harness:
    h = Harness(sla_sessions)
    await h.run(catalog.apply_config, ENGINE_CONFIG, T0)
    return h


# --- the started app ----------------------------------------------------------------------------------

ADMIN_KEY = "tl_test-admin-key-for-sla-api-tests"
API_NOW = datetime(2026, 11, 23, 20, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)  # Monday evening
API_POLICY_FILE: dict[str, Any] = {
    "calendars": [
        {"name": "office", "timezone": "Europe/Berlin", "hours": {d: ["09:00-17:00"] for d in WORKDAYS}}
    ],
    "policies": [
        {"name": "p1", "priorities": ["P1"], "response": "15m", "resolution": "4h"},
        {"name": "p2", "priorities": ["P2"], "response": "30m", "resolution": "8h"},
        {
            "name": "p3",
            "priorities": ["P3"],
            "response": "4h",
            "resolution": "16h",
            "calendar": "office",
            "pause_on": ["awaiting_customer", "awaiting_vendor"],
        },
        {"name": "p4", "priorities": ["P4"], "response": "8h", "resolution": "48h", "calendar": "office"},
    ],
}


@dataclass
class Monitor:
    """A started SLA monitor, a client with the admin key, one with no key, and its runtime."""

    http: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    runtime: Runtime
    now: datetime  # the app's clock (and its timer poller's) stands still here

    async def run(self, use_case: Any, *args: Any, **kwargs: Any) -> None:
        deps = self.runtime.state["deps"]
        async with self.runtime.unit_of_work() as session:
            await use_case(SlaUnitOfWork(session, deps.outbox), deps, *args, **kwargs)

    async def create(self, priority: str, at: datetime) -> uuid.UUID:
        event = IncidentCreated(
            incident_id=uuid.uuid4(),
            title="Mailbox full",
            service="mail",
            category="email",
            priority=priority,
            channel="api",
            reporter="r@example.com",
            created_at=at,
        )
        await self.run(clocks.start_incident_clocks, event)
        return event.incident_id

    async def read_only_key(self) -> dict[str, str]:
        """Headers with a key that may read but not administer."""
        return await issue_api_key(self.runtime, ["incidents:read"])


@pytest.fixture
async def monitor(infra, new_database, tmp_path: Path) -> AsyncIterator[Monitor]:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url)
    (tmp_path / "sla.yaml").write_text(yaml.safe_dump(API_POLICY_FILE))
    settings = app_settings(Settings, infra, url, tmp_path, api_key=ADMIN_KEY)
    app = create_app(settings, clock=FixedClock(API_NOW))
    base = "http://sla.test"
    async with (
        app_client(app, ADMIN_KEY, base_url=base) as http,
        asgi_client(app, base_url=base) as anonymous,
    ):
        yield Monitor(http, anonymous, app.state.runtime, API_NOW)
