"""The service runtime: engines, Kafka clients, outbox relay, consumer and workers.

Each service's bootstrap describes itself with a ``ServiceSpec``; ``create_app``
turns that into a FastAPI app whose lifespan starts everything once and stops it
cleanly, with health, readiness, metrics and problem+json handlers installed, and
traced (``tierline_shared.tracing``): requests, SQL and consumed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from tierline_shared import db, tracing
from tierline_shared.auth import Access, key_copies
from tierline_shared.clock import Clock, SystemClock
from tierline_shared.events import topics
from tierline_shared.events.base import Envelope, Event
from tierline_shared.limits import BodySizeLimit
from tierline_shared.logging import configure_logging, get_logger
from tierline_shared.messaging.consumer import EventConsumer, Handler
from tierline_shared.messaging.failures import is_database_unavailable, outage_cause
from tierline_shared.messaging.kafka import (
    ensure_topics,
    kafka_is_ready,
    new_admin,
    new_producer,
    wait_until_usable,
)
from tierline_shared.messaging.outbox import Outbox, OutboxRelay
from tierline_shared.messaging.tables import INBOX, OUTBOX
from tierline_shared.problem import install_problem_handlers, problem_response
from tierline_shared.request_metrics import RequestMetrics
from tierline_shared.settings import ServiceSettings

_log = get_logger(__name__)

Worker = Callable[["Runtime"], Awaitable[None]]


@dataclass
class ServiceSpec:
    """What a service is: its name, tables, topics, event handlers, routes and workers."""

    name: str
    version: str
    description: str
    settings: ServiceSettings
    metadata: MetaData
    publishes: list[str]
    consumes: list[str]
    handlers: Callable[[Runtime], Mapping[type[Event], Handler]] = lambda rt: {}
    # the advisory lock a consumed event's handler takes (``Handlers.lock_key``): a batch takes them up front
    lock_key: Callable[[Envelope], str | None] | None = None
    routers: list[APIRouter] = field(default_factory=list)
    workers: list[tuple[str, Worker]] = field(default_factory=list)
    state: Callable[[Runtime], dict[str, Any]] = lambda rt: {}
    on_start: Callable[[Runtime], Awaitable[None]] | None = (
        None  # once the database answers, before consuming
    )
    openapi_tags: list[dict[str, Any]] = field(default_factory=list)
    # (path regex, bytes): routes taking bodies larger than TIERLINE_MAX_BODY_BYTES (an upload)
    larger_bodies: list[tuple[str, int]] = field(default_factory=list)


class Runtime:
    """Everything a service builds once at startup and closes at shutdown."""

    def __init__(self, spec: ServiceSpec, clock: Clock | None = None) -> None:
        self.spec = spec
        self.settings = spec.settings
        self.clock = clock or SystemClock()
        self.engine: AsyncEngine = db.create_engine(spec.settings.database_url)
        tracing.instrument_engine(self.engine)
        self.sessions: async_sessionmaker[AsyncSession] = db.session_factory(self.engine)
        self.outbox_table: Table = spec.metadata.tables[OUTBOX]
        self.inbox_table: Table = spec.metadata.tables[INBOX]
        self.outbox = Outbox(self.outbox_table, source=f"/tierline/{spec.name}", clock=self.clock)
        # aiokafka clients need a running loop, so they are built in start().
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._relay: OutboxRelay | None = None
        api_keys, rate_limits = spec.metadata.tables["api_keys"], spec.metadata.tables["rate_limits"]
        self.access = Access(
            api_keys=api_keys,
            rate_limits=rate_limits,
            sessions=self.sessions,
            clock=self.clock,
            bootstrap_key=spec.settings.bootstrap_api_key,
            requests_per_minute=spec.settings.rate_limit_per_minute,
        )
        self.state: dict[str, Any] = spec.state(self)
        self.consumer: EventConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.loops = LoopHealth()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("runtime not started")
        return self._producer

    @property
    def admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            raise RuntimeError("runtime not started")
        return self._admin

    @property
    def relay(self) -> OutboxRelay:
        if self._relay is None:
            raise RuntimeError("runtime not started")
        return self._relay

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction; events added to the outbox inside it are relayed after commit."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
        if self._relay is not None:
            self._relay.wake()

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction whose queries all see one snapshot (REPEATABLE READ).

        For an answer read with several queries (a row and its log, a report's parts): under
        READ COMMITTED a commit landing between them would pair an old row with a new log.
        """
        async with self.sessions() as session, session.begin():
            await session.connection(
                execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            )
            yield session

    async def start(self) -> None:
        s = self.settings
        self._admin = new_admin(s.kafka_bootstrap_servers, f"tierline-{self.spec.name}-admin")
        self._producer = new_producer(s.kafka_bootstrap_servers, f"tierline-{self.spec.name}")
        self._relay = OutboxRelay(
            self.outbox_table,
            self.sessions,
            self._producer,
            batch_size=s.outbox_batch_size,
            idle_seconds=s.outbox_idle_seconds,
            topic_prefix=s.kafka_topic_prefix,
        )
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(90),
            wait=wait_exponential(multiplier=0.2, max=3),
            retry=retry_if_exception_type(Exception),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    _log.warning("waiting_for_dependencies", attempt=attempt.retry_state.attempt_number)
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                await self.admin.start()
        touched = sorted({s.kafka_topic_prefix + t for t in (*self.spec.publishes, *self.consumed_topics())})
        await ensure_topics(
            self.admin, touched, partitions=s.topic_partitions, replication_factor=s.topic_replication_factor
        )
        await wait_until_usable(self.admin, touched, self.group_id)
        await self.producer.start()
        if self.spec.on_start is not None:
            await self.spec.on_start(self)
        self._spawn("outbox-relay", self.relay.run)
        self.consumer = self.new_consumer(self.producer, after_commit=self.relay.wake)
        if self.consumer is not None:
            await self.consumer.start()
            self._spawn("consumer", self.consumer.run)
        self._spawn("housekeeping", self._housekeeping)
        for name, worker in self.spec.workers:
            self._spawn(name, functools.partial(worker, self))
        _log.info("service_started", version=self.spec.version)

    def new_consumer(
        self, dead_letters: AIOKafkaProducer, *, after_commit: Callable[[], None] | None = None
    ) -> EventConsumer | None:
        """The service's consumer (its handlers, group and inbox), not started; None if it consumes nothing.

        ``start`` runs it; ``dlq replay`` hands it dead letters through ``process_batch``, the same path.
        """
        s = self.settings
        handlers: dict[type[Event], Handler] = {
            **key_copies.bind(self.access.api_keys),  # every service's copy of intake's API keys
            **self.spec.handlers(self),
        }
        if not handlers:
            return None
        return EventConsumer(
            # prefixed like the topics: environments sharing a broker never rebalance each other
            group_id=self.group_id,
            topics=[s.kafka_topic_prefix + t for t in self.consumed_topics()],
            handlers=handlers,
            bootstrap_servers=s.kafka_bootstrap_servers,
            sessions=self.sessions,
            inbox=self.inbox_table,
            producer=dead_letters,
            max_attempts=s.consumer_max_attempts,
            retry_initial_seconds=s.consumer_retry_initial_seconds,
            retry_max_seconds=s.consumer_retry_max_seconds,
            after_commit=after_commit,
            lock_key=self.spec.lock_key,
        )

    @property
    def group_id(self) -> str:
        return f"{self.settings.kafka_topic_prefix}tierline-{self.spec.name}"

    def consumed_topics(self) -> list[str]:
        return sorted({*self.spec.consumes, topics.ACCESS})

    def _spawn(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        self._tasks.append(asyncio.create_task(_supervise(name, loop, self.loops), name=name))

    async def _housekeeping(self) -> None:
        while True:
            await self.access.prune(self.clock.now() - timedelta(minutes=10))
            await asyncio.sleep(60)

    def tasks_alive(self) -> bool:
        """Every loop runs, and none is stuck crashing over and over."""
        return all(not t.done() for t in self._tasks) and not self.loops.stuck()

    async def stop(self) -> None:
        """Stop loops and close clients, each step bounded in time: a shutdown must never hang."""
        for task in self._tasks:
            task.cancel()
        _, stuck = (
            await asyncio.wait(self._tasks, timeout=STOP_STEP_SECONDS) if self._tasks else (set(), set())
        )
        if stuck:
            _log.warning("loops_did_not_stop", loops=sorted(t.get_name() for t in stuck))
        self._tasks.clear()
        # Each client is closed even if another fails to, or was never started.
        for name, close in (
            ("consumer", self.consumer.stop if self.consumer else None),
            ("producer", self._producer.stop if self._producer else None),
            ("admin", self._admin.close if self._admin else None),
            ("database", self.engine.dispose),
        ):
            if close is None:
                continue
            try:
                await asyncio.wait_for(close(), STOP_STEP_SECONDS)
            except TimeoutError:
                _log.warning("close_timed_out", client=name, seconds=STOP_STEP_SECONDS)
            except Exception:  # noqa: BLE001 - keep closing the rest
                _log.warning("close_failed", client=name, exc_info=True)
        if not await tracing.flush():
            _log.warning("trace_flush_timed_out", seconds=tracing.FLUSH_SECONDS)
        _log.info("service_stopped")

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": False, "kafka": False, "workers": self.tasks_alive()}
        try:
            async with self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), 2.0)
            checks["database"] = True
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            _log.warning("database_not_ready", exc_info=True)
        checks["kafka"] = await kafka_is_ready(self.admin)
        return checks


DOCS_ASSETS = "/docs/assets"
UNHEALTHY_AFTER_CRASHES = 5
# A loop that has run this long since its last restart without crashing has recovered: its crash
# count no longer makes /healthz fail (a database outage ends), and its next crash starts a new
# count. Longer than a crash-and-restart cycle of a loop failing at once, so such a loop stays stuck.
RECOVERED_AFTER_SECONDS = 10.0
STOP_STEP_SECONDS = 10.0


class LoopHealth:
    """Which supervised loops are stuck crashing: many crashes in a row, and no long run since."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._crashes: dict[str, int] = {}
        self._running_since: dict[str, float | None] = {}  # None while it waits to restart

    def started(self, name: str) -> None:
        self._crashes.setdefault(name, 0)
        self._running_since[name] = self._monotonic()

    def crashed(self, name: str) -> int:
        """Count a crash; one after a run of RECOVERED_AFTER_SECONDS starts a new count. The count."""
        if self._ran_long(name):
            self._crashes[name] = 0
        self._crashes[name] = self._crashes.get(name, 0) + 1
        self._running_since[name] = None
        return self._crashes[name]

    def stuck(self) -> list[str]:
        return sorted(
            name
            for name, crashes in self._crashes.items()
            if crashes >= UNHEALTHY_AFTER_CRASHES and not self._ran_long(name)
        )

    def _ran_long(self, name: str) -> bool:
        since = self._running_since.get(name)
        return since is not None and self._monotonic() - since >= RECOVERED_AFTER_SECONDS


async def _supervise(
    name: str,
    loop: Callable[[], Awaitable[None]],
    health: LoopHealth,
    *,
    first_delay: float = 0.5,
    max_delay: float = 10.0,
) -> None:
    """Keep a background loop running; a crash is logged and the loop restarted with backoff.

    ``health`` counts consecutive crashes per loop, so /healthz can tell a loop that keeps
    failing from one that restarted a few times (during a database outage) and runs again.
    """
    delay = first_delay
    while True:
        health.started(name)
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged and restarted
            crashes = health.crashed(name)
            if crashes == 1:
                delay = first_delay
            if is_database_unavailable(exc):  # an outage, not a bug: one line, no traceback
                _log.warning(
                    "background_task_interrupted", task=name, consecutive=crashes, cause=outage_cause(exc)
                )
            else:
                _log.exception("background_task_crashed", task=name, consecutive=crashes)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


async def get_runtime(request: Request) -> Runtime:  # async: FastAPI runs a plain def in a thread
    runtime: Runtime = request.app.state.runtime
    return runtime


def create_app(spec: ServiceSpec, *, clock: Clock | None = None) -> FastAPI:
    configure_logging(spec.name, spec.settings.log_level)
    tracing.configure(spec.name, spec.version)
    runtime = Runtime(spec, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
            yield
        finally:
            await runtime.stop()

    async def before_metrics() -> None:
        if runtime._relay is not None:
            await runtime.relay.pending()

    app = create_web_app(
        WebAppSpec(
            name=spec.name,
            version=spec.version,
            description=spec.description,
            max_body_bytes=spec.settings.max_body_bytes,
            larger_bodies=spec.larger_bodies,
            openapi_tags=spec.openapi_tags,
            alive=runtime.tasks_alive,
            readiness=runtime.readiness,
            readiness_summary="Readiness: database and Kafka answer",
            before_metrics=before_metrics,
        ),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    for router in spec.routers:
        app.include_router(router)
    return app


@dataclass
class WebAppSpec:
    """What the operations endpoints of a service's app need to know, without a database or Kafka."""

    name: str
    version: str
    description: str
    max_body_bytes: int
    alive: Callable[[], bool]  # /healthz: the process and its loops run
    readiness: Callable[[], Awaitable[dict[str, bool]]]  # /readyz: each dependency, answering or not
    readiness_summary: str = "Readiness: its dependencies answer"
    # /readyz also reports these (under "upstreams"), answering or not, without failing on them
    informational: Callable[[], Awaitable[dict[str, bool]]] | None = None
    before_metrics: Callable[[], Awaitable[None]] | None = None  # refresh gauges before /metrics renders
    openapi_tags: list[dict[str, Any]] = field(default_factory=list)
    larger_bodies: list[tuple[str, int]] = field(default_factory=list)  # (path regex, bytes)


def create_web_app(
    web: WebAppSpec, *, lifespan: Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]
) -> FastAPI:
    """A traced FastAPI app with problem+json handlers, the body and header limits, request metrics,
    /healthz, /readyz, /metrics and offline /docs; the caller configures logging and tracing first."""
    # Swagger UI (/docs) and ReDoc (/redoc) from assets the service serves itself (pinned in the
    # fastapi-offline wheel): the docs work offline and behind strict proxies, with no CDN.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title=f"Tierline {web.name}",
        version=web.version,
        description=web.description,
        lifespan=lifespan,
        openapi_tags=[*web.openapi_tags, {"name": "operations", "description": "Health and metrics"}],
        telemetry=tracing.FASTAPI_TELEMETRY_OFF,
    )
    tracing.instrument_app(app)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=web.max_body_bytes, larger=web.larger_bodies)

    app.add_middleware(RequestMetrics)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process and its loops run")
    async def healthz() -> JSONResponse:
        if not web.alive():
            return problem_response(503, "Service Unavailable", "a background loop has stopped")
        return JSONResponse({"status": "ok", "service": web.name})

    @app.get("/readyz", tags=["operations"], summary=web.readiness_summary)
    async def readyz() -> JSONResponse:
        extra: dict[str, Any] = {}
        if web.informational is None:
            checks = await web.readiness()
        else:
            checks, upstreams = await asyncio.gather(web.readiness(), web.informational())
            extra = {"upstreams": upstreams}
        if all(checks.values()):
            return JSONResponse({"status": "ready", "checks": checks, **extra})
        return problem_response(503, "Service Unavailable", "dependencies not ready", checks=checks, **extra)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> Response:
        if web.before_metrics is not None:
            await web.before_metrics()
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def poll_in_batches(
    rt: Runtime,
    step: Callable[[AsyncSession, int], Awaitable[int]],
    *,
    batch: int,
    idle_seconds: float,
) -> None:
    """Run ``step`` (given a session and a batch size) in its own unit of work, forever.

    Straight again while it keeps handling full batches; after a short batch, rest ``idle_seconds``.
    """
    while True:
        async with rt.unit_of_work() as session:
            handled = await step(session, batch)
        if handled < batch:
            await asyncio.sleep(idle_seconds)
