"""Test helpers: wait on conditions with a deadline, read topics from the start, call apps in-process,
fuzz an app's OpenAPI with schemathesis."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import io
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
import uvicorn
from aiokafka import AIOKafkaConsumer

from tierline_shared.auth import hash_key, key_copies
from tierline_shared.events.access import ApiKeyCreated, Scope
from tierline_shared.events.base import Envelope, Event
from tierline_shared.messaging import cloudevents

if TYPE_CHECKING:
    import httpx
    import hypothesis
    import pytest
    import requests
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from schemathesis import Case, CheckContext, Response

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
            return value
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


async def issue_api_key(runtime: Runtime, scopes: list[Scope]) -> dict[str, str]:
    """Authorization headers for a new key, applied as each service's consumer applies intake's event."""
    key = f"tl_{uuid.uuid4().hex}"
    event = ApiKeyCreated(
        key_id=uuid.uuid4(), name="test", key_hash=hash_key(key), scopes=scopes, created_at=datetime.now(UTC)
    )
    async with runtime.unit_of_work() as session:
        apply = key_copies.bind(runtime.access.api_keys)[ApiKeyCreated]
        await apply(session, Envelope(event, "/tierline/intake"))
    return {"Authorization": f"Bearer {key}"}


# --- answers of the admin APIs (catalogs and their match order) ---


def answer(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of an answer that has ``status`` (the body in the failure message otherwise)."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def problem_answer(response: httpx.Response, status: int) -> dict[str, Any]:
    """A problem+json answer with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    result: dict[str, Any] = response.json()
    return result


def rank_warning_codes(entry: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """A catalog entry's match-order warnings as (code, entries) pairs."""
    return [(w["code"], w["entries"]) for w in entry["rank_warnings"]]


def never_reached(records: Collection[logging.LogRecord]) -> list[str]:
    """The catalog entries a start warned about: never reached."""
    events = [r.msg for r in records if r.levelno == logging.WARNING and isinstance(r.msg, dict)]
    return [e["entry"] for e in events if e.get("event") == "catalog_entry_never_reached"]


# --- OpenAPI fuzzing (schemathesis, hypothesis and requests are test dependencies, imported when used) ---

PROBLEM_JSON = "application/problem+json"


def served_openapi(create_app: Callable[[Any], FastAPI], settings: Callable[..., Any]) -> dict[str, Any]:
    """The document an app serves at /openapi.json, read without a lifespan (so no servers needed):
    the app of ``settings(database_url=..., kafka_bootstrap_servers=...)``, naming neither server.

    This runs while pytest collects, so the logging that create_app sets up is put back afterwards.
    """
    from fastapi.testclient import TestClient

    root = logging.getLogger()
    handlers, level, structlog_config = root.handlers[:], root.level, structlog.get_config()
    unreachable = settings(
        database_url="postgresql+asyncpg://unused@127.0.0.1:1/unused", kafka_bootstrap_servers="127.0.0.1:1"
    )
    try:
        app = contextvars.copy_context().run(create_app, unreachable)
        response = TestClient(app).get("/openapi.json")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def in_process_adapter(
    client: TestClient, prepare: Callable[[requests.PreparedRequest, bytes | None], None] | None = None
) -> requests.adapters.HTTPAdapter:
    """A requests transport that answers from a Starlette TestClient instead of a socket, so the app
    runs in-process; ``prepare``, if given, sees each request and the bytes of its body first."""
    import requests
    import urllib3

    class TestClientAdapter(requests.adapters.HTTPAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            body = request.body.encode() if isinstance(request.body, str) else request.body
            if prepare is not None:
                prepare(request, body)
            answer = client.request(
                str(request.method),
                str(request.url),
                # latin-1 bytes, the octets on the wire (TestClient passes non-ASCII ones on as UTF-8)
                headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
                content=body,
                follow_redirects=False,
            )
            raw = urllib3.HTTPResponse(
                body=io.BytesIO(answer.content),
                headers=urllib3.HTTPHeaderDict(answer.headers.multi_items()),
                status=answer.status_code,
                reason=answer.reason_phrase,
                version=11,
                preload_content=False,
                decode_content=False,  # httpx has decoded it already
                request_method=request.method,
            )
            return self.build_response(request, raw)

    return TestClientAdapter()


def problem_json_check(
    exempt: Collection[tuple[str, str, int]] = (),
) -> Callable[[CheckContext, Response, Case[Any]], bool | None]:
    """A schemathesis check: every 4xx is RFC 9457 problem+json, but for ``exempt`` (method, path
    template, status) whose body is not problem+json by design."""

    def problem_json_for_client_errors(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
        """Every 4xx is RFC 9457 problem+json (bar the exempt ones)."""
        if not 400 <= response.status_code < 500:
            return None
        if (case.method.upper(), case.path, response.status_code) in exempt:
            return None
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
            f"{response.status_code} answered with content-type {content_type!r}, not {PROBLEM_JSON}"
        )
        return None

    return problem_json_for_client_errors


def fuzz_marks() -> list[pytest.MarkDecorator]:
    """The marks of an OpenAPI fuzz test module: it is an integration test, and Hypothesis's warning
    that the app's own threads (Kafka clients, retries) use `random` while it draws is expected."""
    import pytest

    return [
        pytest.mark.integration,
        pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
    ]


def fuzz_settings() -> hypothesis.settings:
    """Hypothesis settings for an OpenAPI fuzz test: 40 examples an operation, the same every run."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.filter_too_much,
        ],
    )


def check_fuzzable(case: Case[Any], openapi: Mapping[str, Any], known_bugs: Mapping[str, str]) -> None:
    """Skip an operation with a known bug; fail one whose declared body schemathesis cannot generate."""
    import pytest

    operation = case.operation.label
    if operation in known_bugs:
        pytest.skip(f"known bug: {known_bugs[operation]}")
    declared = openapi["paths"][case.operation.path][case.operation.method.lower()]
    if "requestBody" in declared and not list(case.operation.body):
        pytest.fail(f"{operation} declares a request body schemathesis cannot generate (unresolvable $ref?)")


def naming_existing(case: Case[Any], existing: Mapping[str, str]) -> Case[Any] | None:
    """The case again, its path parameters that ``existing`` has a value for naming that value (random
    ones mostly reach the 404 path); None when it has none of them."""
    found = {name: existing[name] for name in case.path_parameters or {} if name in existing}
    if not found:
        return None
    twin = case.derive(keep_auth=True)
    twin.path_parameters = {**case.path_parameters, **found}
    return twin


async def publish_events(bootstrap: str, prefix: str, source: str, events: Collection[Event]) -> None:
    """Produce ``events`` (as ``source`` announces them) to their topics under ``prefix``, in order."""
    from tierline_shared.messaging.kafka import new_producer

    producer = new_producer(bootstrap, f"test-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        for event in events:
            record = cloudevents.encode(Envelope(data=event, source=source))
            await producer.send_and_wait(
                prefix + record.topic, value=record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()
