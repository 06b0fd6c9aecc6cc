"""Test helpers: wait on conditions with a deadline, read topics from the start, call apps in-process."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn
from aiokafka import AIOKafkaConsumer

from tierline_shared.auth import apply_key_created, hash_key
from tierline_shared.events.access import ApiKeyCreated
from tierline_shared.events.base import Envelope
from tierline_shared.messaging import cloudevents

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from tierline_shared.runtime import Runtime

T = TypeVar("T")


async def eventually(
    probe: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call probe until it returns something truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        last = value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)


class TopicReader:
    """Reads whole topics from the beginning, without a consumer group, into memory."""

    def __init__(self, bootstrap_servers: str, topics: list[str]) -> None:
        self.topics = topics
        self.consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            client_id=f"tierline-test-{uuid.uuid4().hex[:6]}",
        )
        self.records: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        self._task = asyncio.create_task(self._pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()

    async def _pump(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                self.records.extend(records)

    def envelopes(self, topic: str | None = None) -> list[Envelope]:
        out = []
        for record in self.records:
            if topic is None or record.topic == topic:
                try:
                    out.append(cloudevents.decode(record.headers, record.value))
                except Exception:  # noqa: BLE001 - tests look at what is readable
                    continue
        return out

    def of_type(self, event_type: str, subject: str | None = None) -> list[Envelope]:
        return [
            e for e in self.envelopes() if e.type == event_type and (subject is None or e.subject == subject)
        ]


def query_value(database_url: str, sql: str) -> Any:
    """Run one read-only query synchronously (for sync tests) and return the first value."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(database_url)

    async def fetch() -> Any:
        conn = await asyncpg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password, database=url.database
        )
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(fetch())


class ServerThread:
    """Serves an ASGI app on 127.0.0.1 from a thread (test receivers), with a clean stop."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def app_settings(
    settings: Callable[..., T], infra: Any, database_url: str, config_dir: Path, *, api_key: str, **more: Any
) -> T:
    """A service's Settings on the test servers, under a topic prefix of its own: no other test's events."""
    return settings(
        database_url=database_url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        bootstrap_api_key=api_key,
        config_dir=config_dir,
        kafka_topic_prefix=f"t-{uuid.uuid4().hex[:8]}.",
        **more,
    )


def asgi_client(app: FastAPI, api_key: str | None = None, *, base_url: str) -> httpx.AsyncClient:
    """A client calling ``app`` in-process as a server would: an escaping error is a 500, not raised."""
    import httpx  # a test dependency, not one of tierline-shared's

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers)


@asynccontextmanager
async def app_client(
    app: FastAPI, api_key: str | None = None, *, base_url: str = "http://app.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the real app's lifespan (runtime, consumers, workers) and yield an asgi_client on it."""
    async with app.router.lifespan_context(app), asgi_client(app, api_key, base_url=base_url) as http:
        yield http


async def issue_api_key(runtime: Runtime, scopes: list[str]) -> dict[str, str]:
    """Authorization headers for a new key, applied as each service's consumer applies intake's event."""
    key = f"tl_{uuid.uuid4().hex}"
    event = ApiKeyCreated(
        key_id=uuid.uuid4(), name="test", key_hash=hash_key(key), scopes=scopes, created_at=datetime.now(UTC)
    )
    async with runtime.unit_of_work() as session:
        await apply_key_created(runtime.access.api_keys, session, Envelope(event, "/tierline/intake"))
    return {"Authorization": f"Bearer {key}"}
