"""While PostgreSQL is away a request gets a 503 with Retry-After, never a 500 with a traceback; once
it is back the pool recovers, and so does the service's health.

The tests stop and start a PostgreSQL of their own: the session's server, which the other tests use,
is never touched.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tierline_launcher.postgres import PostgresServer
from tierline_shared import db
from tierline_shared.auth import Principal, access_tables, require
from tierline_shared.logging import configure_logging
from tierline_shared.messaging.tables import messaging_tables
from tierline_shared.problem import PROBLEM_JSON, RETRY_AFTER_SECONDS, install_problem_handlers
from tierline_shared.runtime import (
    RECOVERED_AFTER_SECONDS,
    UNHEALTHY_AFTER_CRASHES,
    Runtime,
    ServiceSpec,
    create_app,
    get_runtime,
)
from tierline_shared.settings import ServiceSettings
from tierline_shared.testing import eventually

pytestmark = pytest.mark.integration

DATABASE = "outage"
RECOVERY_DEADLINE = 30.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this module's own, to stop and start again."""
    # Not tmp_path: pytest makes it 0700, and PostgreSQL runs as another user when we are root.
    root = Path(tempfile.mkdtemp(prefix="tierline-outage-"))
    root.chmod(0o755)
    server = PostgresServer(root / "postgres", durable=False)
    try:
        server.start()
        server.create_database(DATABASE)
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(server.data_root, ignore_errors=True)


@pytest.fixture
def running(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """The module's server, running at the start of the test and again at its end, whatever happened."""
    if postgres.proc is None:
        postgres.start()
    try:
        yield postgres
    finally:
        if postgres.proc is None:
            postgres.start()


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The service logging set-up, writing to a buffer; put back afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    configure_logging("outage-test")
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)
        structlog.contextvars.unbind_contextvars("service")


@pytest.fixture
async def engine(running: PostgresServer) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(running.url(DATABASE))  # as every service builds it: no pre-ping
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """An app with the services' problem handlers and one endpoint that queries in a transaction."""
    app = FastAPI()
    install_problem_handlers(app)
    sessions = db.session_factory(engine)

    @app.get("/answer")
    async def answer() -> dict[str, int]:
        async with sessions() as session, session.begin():
            return {"answer": (await session.execute(text("SELECT 42"))).scalar_one()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # a 500 shows as a 500
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    body = response.json()
    assert body["status"] == 503 and body["title"] == "Service unavailable"
    assert body["type"].endswith("/database-unavailable")
    assert body["instance"] == "/answer"
    assert "SELECT" not in response.text and "asyncpg" not in response.text  # no internals


async def _answers_again(client: httpx.AsyncClient) -> list[int]:
    """Ask until the answer is 200 again (within the deadline); the statuses seen on the way."""
    seen: list[int] = []

    async def ok() -> bool:
        response = await client.get("/answer")
        seen.append(response.status_code)
        if response.status_code != 200:
            _assert_unavailable(response)
            return False
        assert response.json() == {"answer": 42}
        return True

    await eventually(ok, timeout=RECOVERY_DEADLINE, interval=0.2, what="an answer after the outage")
    return seen


def _log_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_requests_while_postgres_is_down_get_a_503_and_succeed_once_it_is_back(
    running: PostgresServer, client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    assert (await client.get("/answer")).status_code == 200  # a connection now waits in the pool
    running.stop()
    for _ in range(3):  # the pooled connection lost, then new connections refused
        _assert_unavailable(await client.get("/answer"))
    running.start()
    await _answers_again(client)

    lines = _log_lines(json_logs)
    refused = [line for line in lines if line.get("event") == "database_unavailable"]
    assert len(refused) == 3
    assert all(line["level"] == "warning" and "exception" not in line for line in refused)
    assert all(line["path"] == "/answer" and line["cause"] for line in refused)
    assert not [line for line in lines if line.get("level") in ("error", "critical")]


async def test_the_first_request_after_a_restart_on_a_stale_pooled_connection_is_a_503_then_the_pool_recovers(
    running: PostgresServer, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/answer")).status_code == 200
    assert engine.sync_engine.pool.checkedin() == 1  # kept, and never pinged before use
    running.stop()
    running.start()  # a quick restart: nobody asked while it was down
    seen = await _answers_again(client)
    assert seen[0] == 503  # the stale connection fails once: a 503, not a 500
    assert seen[-1] == 200 and len(seen) <= 3  # SQLAlchemy dropped the whole pool, and reconnects


ADMIN_KEY = "tl_test-admin-key-for-the-outage-test"


def _service(database_url: str, bootstrap_servers: str, prefix: str) -> ServiceSpec:
    """A service as the real ones are built: authenticated API, outbox relay, consumer and a DB poller."""
    metadata = db.new_metadata()
    messaging_tables(metadata)
    access_tables(metadata)
    router = APIRouter()

    @router.post("/v1/incidents", status_code=201)
    async def create(
        _: Principal = Depends(require("incidents:write")), rt: Runtime = Depends(get_runtime)
    ) -> dict[str, int]:
        async with rt.unit_of_work() as session:
            return {"answer": (await session.execute(text("SELECT 42"))).scalar_one()}

    async def poller(rt: Runtime) -> None:  # like the router's ack timer or the SLA poller
        while True:
            async with rt.unit_of_work() as session:
                await session.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)

    settings = ServiceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap_servers,
        kafka_topic_prefix=prefix,
        bootstrap_api_key=ADMIN_KEY,
    )
    return ServiceSpec(
        name="outage",
        version="0",
        description="",
        settings=settings,
        metadata=metadata,
        publishes=[],
        consumes=[],
        routers=[router],
        workers=[("poller", poller)],
    )


def _wait(probe: Callable[[], bool], what: str, timeout: float = RECOVERY_DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.2)


def test_a_service_refuses_with_503_during_an_outage_and_is_healthy_again_after_it(
    infra: Any,
    running: PostgresServer,
    unique: str,
    json_logs: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running.create_database(f"service_{unique}")
    url = running.url(f"service_{unique}")
    spec = _service(url, infra.bootstrap_servers, f"t{unique}.")

    async def create_tables() -> None:
        engine = db.create_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(spec.metadata.create_all)
        await engine.dispose()

    asyncio.run(create_tables())
    monkeypatch.setattr("sys.stdout", json_logs)  # the app sets logging up again, on the stdout of now
    app = create_app(spec)
    runtime: Runtime = app.state.runtime
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        assert client.post("/v1/incidents").status_code == 201
        assert client.get("/healthz").status_code == 200
        running.stop()
        try:
            refused = client.post("/v1/incidents")
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == PROBLEM_JSON
            assert refused.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
            assert refused.json()["type"].endswith("/database-unavailable")
            # the outage lasts until the poller has crashed over and over: the service says so
            _wait(lambda: client.get("/healthz").status_code == 503, "the poller seen as stuck")
            assert "poller" in runtime.loops.stuck()
        finally:
            running.start()
        _wait(lambda: client.post("/v1/incidents").status_code == 201, "a request served again")
        # the regression: /healthz and /readyz stayed 503 for good once the database was back
        _wait(
            lambda: client.get("/healthz").status_code == 200,
            "healthy again",
            timeout=RECOVERY_DEADLINE + RECOVERED_AFTER_SECONDS,
        )
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["workers"] is True

    lines = _log_lines(json_logs)
    assert [line for line in lines if line.get("event") == "database_unavailable"]
    assert not [line for line in lines if line.get("event") == "unhandled_error"]
    interrupted = [line for line in lines if line.get("event") == "background_task_interrupted"]
    assert len(interrupted) >= UNHEALTHY_AFTER_CRASHES  # one short line each, no traceback
    assert all(line["level"] == "warning" and "exception" not in line for line in interrupted)
