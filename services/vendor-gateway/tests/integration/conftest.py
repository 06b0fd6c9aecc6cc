"""A migrated gateway database and a harness that runs the delivery worker's steps on a FixedClock;
or the real app, started on its own database with a given vendors.yaml."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx
import pytest
import yaml
from aiohttp import web
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from standardwebhooks import Webhook

from tierline_launcher.procs import free_port
from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import IncidentCreated, IncidentEscalated, VendorChanged
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.testing import ServerThread, app_client, app_settings
from tierline_vendor_gateway.adapters import sender
from tierline_vendor_gateway.adapters.orm import CaseRow, DeliveryAttemptRow, DeliveryRow, outbox
from tierline_vendor_gateway.bootstrap import create_app
from tierline_vendor_gateway.config import Settings, VendorsConfig
from tierline_vendor_gateway.entrypoints import workers
from tierline_vendor_gateway.service_layer import cases, deliveries, registry, snapshot
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# Fixed test secrets ("whsec_" + base64 of 32 bytes); the receiver verifies our signatures with the first.
WEBHOOK_SECRET = "whsec_dGllcmxpbmUtdGVzdC13ZWJob29rLXNlY3JldC0zMmI="
CALLBACK_SECRET = "whsec_dGllcmxpbmUtdGVzdC1jYWxsYmFjay1zZWNyZXQtMzI="
ADMIN_KEY = "tl_test-admin-key-for-vendor-gateway-api-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def whsec(fill: bytes) -> str:
    """A valid webhook secret: "whsec_" and the base64 of 32 bytes of ``fill``."""
    return "whsec_" + base64.b64encode(fill * 32).decode()


def offline_vendors(secret: str, callback_secrets: dict[str, list[str]]) -> dict[str, Any]:
    """A vendors.yaml: each vendor (name -> its callback secrets) at http://127.0.0.1:9/<name>, signed
    with ``secret``: allow-listed, but nothing listens there and one attempt is all a delivery gets,
    so every delivery dead-letters at once ("cannot connect")."""
    return {
        "vendors": [
            {
                "name": name,
                "webhook_url": f"http://127.0.0.1:9/{name}",
                "secrets": [secret],
                "callback_secrets": callback,
            }
            for name, callback in callback_secrets.items()
        ],
        "delivery": {"allow_hosts": ["127.0.0.1"], "max_attempts": 1},
    }


@dataclass
class FaultyVendor:
    """Answers each delivery with the next scripted (status, headers, body); the last one repeats."""

    script: list[tuple[int, dict[str, str], Any]]
    url: str = ""
    seen: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/cases")
        async def case(request: Request) -> JSONResponse:
            body = await request.body()
            try:
                Webhook(WEBHOOK_SECRET).verify(body, dict(request.headers))
                valid = True
            except Exception:  # noqa: BLE001 - recorded, asserted by the test
                valid = False
            self.seen.append((dict(request.headers), body, valid))
            status, headers, answer = self.script[min(len(self.seen), len(self.script)) - 1]
            return JSONResponse(answer, status_code=status, headers=headers)

        return app

    @property
    def webhook_ids(self) -> list[str]:
        return [h["webhook-id"] for h, _, _ in self.seen]


@pytest.fixture
def faulty_vendor() -> Iterator[Callable[..., FaultyVendor]]:
    """Start a FaultyVendor with this script on a free port; its webhook URL is ``.url``."""
    servers: list[ServerThread] = []

    def start(*script: tuple[int, dict[str, str], Any]) -> FaultyVendor:
        vendor = FaultyVendor(list(script))
        port = free_port()
        server = ServerThread(vendor.app(), port)
        server.__enter__()
        servers.append(server)
        vendor.url = f"http://127.0.0.1:{port}/cases"
        return vendor

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@asynccontextmanager
async def serve_in_loop(
    handle: Callable[[web.Request], Awaitable[web.StreamResponse]], port: int
) -> AsyncIterator[None]:
    """Answer every method and path on 127.0.0.1:``port`` with ``handle``, in the test's own event loop."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield
    finally:
        await runner.cleanup()


def vendors_config(url: str, **delivery: Any) -> VendorsConfig:
    policy = {"max_attempts": 5, "initial_backoff": "1s", "max_backoff": "10m", "timeout": "2s"}
    policy["allow_hosts"] = ["127.0.0.1"]
    return VendorsConfig.model_validate(
        {
            "vendors": [
                {
                    "name": "acme",
                    "webhook_url": url,
                    "secrets": [WEBHOOK_SECRET],
                    "callback_secrets": [CALLBACK_SECRET],
                }
            ],
            "delivery": {**policy, **delivery},
        }
    )


async def open_l4_case(session: Any, deps: GatewayDeps, vendor: str = "acme") -> uuid.UUID:
    """An incident the gateway has seen created, escalated to L4 for ``vendor``: its case's id."""
    incident_id, now = uuid.uuid4(), deps.clock.now()
    uow = deps.unit_of_work(session)
    await snapshot.remember_incident(
        uow,
        IncidentCreated(
            incident_id=incident_id,
            title="Switch down",
            service="network",
            category="network",
            priority="P1",
            channel="monitoring",
            reporter="zabbix",
            created_at=now,
        ),
    )
    case = await cases.open_case(
        uow,
        deps,
        IncidentEscalated(
            incident_id=incident_id,
            from_tier="L3",
            to_tier="L4",
            reason="sla_breach",
            vendor=vendor,
            escalated_at=now,
        ),
    )
    assert case is not None
    return case.id


class Gateway:
    """Runs the gateway's use cases and the worker's steps, one transaction each, as the service does."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions
        # Real time at the start: the receiver checks signature timestamps (5-minute tolerance).
        self.clock = FixedClock(datetime.now(UTC))
        self.deps = self.configure("http://127.0.0.1:9/cases")

    def configure(self, url: str, **delivery: Any) -> GatewayDeps:
        """Deps for a vendors.yaml naming one vendor "acme" at ``url``; applied before the next step."""
        self.config = vendors_config(url, **delivery)
        self.deps = GatewayDeps(
            outbox=Outbox(outbox, "/tierline/vendor-gateway", self.clock),
            clock=self.clock,
            delivery=self.config.delivery,
            public_url="http://127.0.0.1:8004",
        )
        self._applied = False
        return self.deps

    async def run(self, use_case: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        if not self._applied:  # as the service does at start
            self._applied = True
            async with self.sessions() as session, session.begin():
                await registry.apply_config(self.deps.unit_of_work(session), self.deps, self.config)
        async with self.sessions() as session, session.begin():
            return await use_case(session, self.deps, *args, **kwargs)

    async def work(self, use_case: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """``run`` for the use cases that take the gateway's unit of work rather than a session."""
        return await self.run(lambda s, d, *a, **k: use_case(d.unit_of_work(s), d, *a, **k), *args, **kwargs)

    @asynccontextmanager
    async def _unit_of_work(self) -> AsyncIterator[Any]:
        async with self.sessions() as session, session.begin():
            yield session

    async def open_case(self, vendor: str = "acme") -> uuid.UUID:
        return await self.run(open_l4_case, vendor)

    def client(self) -> aiohttp.ClientSession:
        """The worker's HTTP client, SSRF-guarded with the configured allow-list."""
        return sender.client(self.deps.delivery.allow_hosts)

    async def step(self, client: aiohttp.ClientSession) -> int:
        """One worker round: claim what is due and attempt each (workers._attempt); returns how many."""
        await self.run(lambda _s, _d: asyncio.sleep(0))  # the configuration is applied
        rt = SimpleNamespace(
            state={"deps": self.deps}, sessions=self.sessions, unit_of_work=self._unit_of_work
        )
        async with self.sessions() as s, s.begin():
            claimed = await deliveries.claim_due_deliveries(
                self.deps.unit_of_work(s), self.deps, limit=50, lease=timedelta(seconds=30)
            )
        for c in claimed:
            await workers._attempt(rt, client, c)  # type: ignore[arg-type]
        return len(claimed)

    async def settle(self, rounds: int = 30) -> None:
        """Attempt until nothing is pending, jumping the clock to the next due attempt in between."""
        async with self.client() as client:
            for _ in range(rounds):
                await self.step(client)
                async with self.sessions() as s:
                    due = await s.scalar(
                        select(func.min(DeliveryRow.next_attempt_at)).where(DeliveryRow.status == "pending")
                    )
                if due is None:
                    return
                if due > self.clock.now():
                    self.clock.advance(due - self.clock.now())
        raise AssertionError("deliveries still pending")

    async def case(self, case_id: uuid.UUID) -> CaseRow:
        async with self.sessions() as s:
            row = await s.get(CaseRow, case_id)
        assert row is not None
        return row

    async def delivery(self, case_id: uuid.UUID) -> DeliveryRow:
        async with self.sessions() as s:
            rows = (await s.scalars(select(DeliveryRow).where(DeliveryRow.case_id == case_id))).all()
        assert len(rows) == 1, "one delivery per case"
        return rows[0]

    async def deliveries(self) -> list[DeliveryRow]:
        async with self.sessions() as s:
            return list((await s.scalars(select(DeliveryRow).order_by(DeliveryRow.created_at))).all())

    async def log(self, delivery_id: str) -> list[DeliveryAttemptRow]:
        async with self.sessions() as s:
            rows = await s.scalars(
                select(DeliveryAttemptRow)
                .where(DeliveryAttemptRow.delivery_id == delivery_id)
                .order_by(DeliveryAttemptRow.attempted_at, DeliveryAttemptRow.attempt)
            )
            return list(rows.all())

    async def events(self, *, vendors: bool = False) -> list[Any]:
        """The case events in the outbox (or, with ``vendors``, the vendor.changed ones), oldest first."""
        async with self.sessions() as s:
            rows = (await s.execute(select(outbox).order_by(outbox.c.seq))).all()
        decoded = [cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]
        return [e for e in decoded if isinstance(e, VendorChanged) == vendors]


@pytest.fixture
async def gateway(new_database) -> AsyncIterator[Gateway]:
    url = new_database("vendor_gateway")
    migrations.upgrade(MIGRATIONS, url)
    engine = db.create_engine(url)
    yield Gateway(db.session_factory(engine))
    await engine.dispose()


@pytest.fixture
def gateway_app(
    infra, new_database, tmp_path: Path
) -> Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Any]]]:
    """Start the real app with this vendors.yaml: a client (with the admin key unless not ``admin``)
    and the app's runtime; its own worker polls every 50 ms."""

    @asynccontextmanager
    async def start(
        vendors: dict[str, Any], *, admin: bool = True
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        url = new_database("vendor_gateway")
        migrations.upgrade(MIGRATIONS, url)
        (tmp_path / "vendors.yaml").write_text(yaml.safe_dump(vendors))
        app = create_app(
            app_settings(Settings, infra, url, tmp_path, api_key=ADMIN_KEY, delivery_poll_seconds=0.05)
        )
        key = ADMIN_KEY if admin else None
        async with app_client(app, key, base_url="http://vendor-gateway.test") as http:
            yield http, app.state.runtime

    return start
