"""Intake's front door on the real PostgreSQL and Kafka: API keys, scopes, rate and body limits,
and Idempotency-Key replays."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from fastapi.testclient import TestClient

from tierline_intake.adapters.orm import Base
from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import ApiKeyCreated, Envelope, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer
from tierline_shared.testing import TopicReader, eventually, query_value

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
ADMIN_KEY = "tl_test-admin-key-for-intake-integration-tests"
PROBLEM_JSON = "application/problem+json"

VALID = {
    "title": "VPN down for sales",
    "description": "Since 09:10",
    "service": "vpn",
    "category": "network",
    "impact": "high",
    "urgency": "medium",
    "channel": "web",
    "reporter": "alice@example.com",
}

MakeClient = Callable[..., TestClient]


# -- helpers ---------------------------------------------------------------------------------


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _anonymous(client: TestClient, method: str, url: str, **kwargs: Any) -> Any:
    """The request without the client's default Authorization header."""
    request = client.build_request(method, url, **kwargs)
    del request.headers["Authorization"]
    return client.send(request)


def _issue(client: TestClient, *scopes: str, name: str = "test-key") -> dict[str, Any]:
    response = client.post("/v1/api-keys", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()


def _count(client: TestClient, table: str, where: str = "") -> int:
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    return query_value(client.database_url, sql)  # type: ignore[attr-defined]


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    return body


def _sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# -- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), [("GET", "/v1/incidents"), ("POST", "/v1/incidents")])
def test_no_key_is_a_401_with_www_authenticate(client: TestClient, method: str, url: str) -> None:
    kwargs = {"json": VALID} if method == "POST" else {}
    response = _anonymous(client, method, url, **kwargs)
    body = _problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["title"] == "Unauthorized"
    assert _count(client, "incidents") == 0


@pytest.mark.parametrize(
    "authorization",
    ["Bearer tl_not-a-key-we-issued", "Bearer ", "Basic dXNlcjpwYXNz", ADMIN_KEY, f"Bearer {ADMIN_KEY}x"],
)
def test_unknown_or_malformed_key_is_a_401(client: TestClient, authorization: str) -> None:
    response = client.get("/v1/incidents", headers={"Authorization": authorization})
    _problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_unknown_key_names_invalid_token(client: TestClient) -> None:
    response = client.get("/v1/incidents", headers=_bearer("tl_not-a-key-we-issued"))
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_revoked_key_is_a_401(client: TestClient) -> None:
    issued = _issue(client, "incidents:write")
    assert client.get("/v1/incidents", headers=_bearer(issued["key"])).status_code == 200
    assert client.delete(f"/v1/api-keys/{issued['id']}").status_code == 204
    response = client.get("/v1/incidents", headers=_bearer(issued["key"]))
    _problem(response, 401)
    response = client.post("/v1/incidents", json=VALID, headers=_bearer(issued["key"]))
    _problem(response, 401)
    assert _count(client, "incidents") == 0


def test_read_scope_can_read_but_not_write(client: TestClient) -> None:
    incident = client.post("/v1/incidents", json=VALID).json()
    reader = _bearer(_issue(client, "incidents:read")["key"])
    assert client.get("/v1/incidents", headers=reader).status_code == 200
    assert client.get(f"/v1/incidents/{incident['id']}", headers=reader).status_code == 200
    assert client.get(f"/v1/incidents/{incident['id']}/timeline", headers=reader).status_code == 200
    writes = [
        ("POST", "/v1/incidents", VALID),
        ("PATCH", f"/v1/incidents/{incident['id']}", {"title": "x"}),
        ("POST", f"/v1/incidents/{incident['id']}/acknowledge", None),
        ("POST", f"/v1/incidents/{incident['id']}/notes", {"text": "hi"}),
        ("POST", "/v1/problems", {"title": "p"}),
    ]
    for method, url, body in writes:
        response = client.request(method, url, json=body, headers=reader)
        problem = _problem(response, 403)
        assert "incidents:write" in problem["detail"], url
        assert problem["required_scope"] == "incidents:write"
    after = client.get(f"/v1/incidents/{incident['id']}").json()
    assert after["status"] == "open" and after["title"] == VALID["title"]
    assert _count(client, "incidents") == 1


def test_write_scope_can_write_and_read(client: TestClient) -> None:
    writer = _bearer(_issue(client, "incidents:write")["key"])
    created = client.post("/v1/incidents", json=VALID, headers=writer)
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]
    assert client.post(f"/v1/incidents/{incident_id}/acknowledge", headers=writer).status_code == 200
    assert client.get(f"/v1/incidents/{incident_id}", headers=writer).json()["status"] == "acknowledged"
    assert client.get("/v1/incidents", headers=writer).status_code == 200


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/v1/api-keys", None),
        ("POST", "/v1/api-keys", {"name": "x", "scopes": ["admin"]}),
        ("DELETE", f"/v1/api-keys/{uuid.uuid4()}", None),
        ("GET", "/v1/integrations", None),
        ("POST", "/v1/integrations", {"type": "pagerduty", "name": "pd", "service": "vpn"}),
        ("DELETE", f"/v1/integrations/{uuid.uuid4()}", None),
    ],
)
def test_admin_endpoints_need_the_admin_scope(
    client: TestClient, method: str, url: str, body: dict[str, Any] | None
) -> None:
    for scopes in (["incidents:read"], ["incidents:write"], ["incidents:read", "incidents:write"]):
        key = _issue(client, *scopes)["key"]
        response = client.request(method, url, json=body, headers=_bearer(key))
        problem = _problem(response, 403)
        assert problem["required_scope"] == "admin"
        assert "admin" in problem["detail"]
    assert _count(client, "integrations") == 0
    # only the three non-admin keys above were issued here (api_keys also holds other tests' copies)
    assert _count(client, "outbox", "event_type = 'tierline.apikey.created.v1'") == 3


def test_an_issued_admin_key_can_administer(client: TestClient) -> None:
    admin = _bearer(_issue(client, "admin")["key"])
    assert client.get("/v1/api-keys", headers=admin).status_code == 200
    assert client.post("/v1/incidents", json=VALID, headers=admin).status_code == 201


@pytest.mark.parametrize("url", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_operational_endpoints_need_no_key(client: TestClient, url: str) -> None:
    response = _anonymous(client, "GET", url)
    assert response.status_code == 200, response.text


def test_openapi_declares_the_bearer_scheme(client: TestClient) -> None:
    spec = _anonymous(client, "GET", "/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert any(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())


# -- API keys --------------------------------------------------------------------------------


def test_create_api_key_shows_the_key_once(client: TestClient) -> None:
    response = client.post(
        "/v1/api-keys", json={"name": "grafana", "scopes": ["incidents:write", "incidents:read"]}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["key"].startswith("tl_") and len(body["key"]) > 30
    assert body["name"] == "grafana"
    assert body["scopes"] == ["incidents:read", "incidents:write"]
    assert body["revoked_at"] is None
    uuid.UUID(body["id"])
    stored = query_value(
        client.database_url,  # type: ignore[attr-defined]
        f"SELECT key_hash FROM api_keys WHERE id = '{body['id']}'",
    )
    assert stored == _sha256(body["key"])
    other = _issue(client, "incidents:read")
    assert other["key"] != body["key"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["admin"]},
        {"scopes": ["admin"]},
        {"name": "x", "scopes": ["admin"], "key": "tl_mine"},
    ],
)
def test_invalid_api_key_requests_are_a_422(client: TestClient, body: dict[str, Any]) -> None:
    _problem(client.post("/v1/api-keys", json=body), 422)
    # (keys other tests issue reach this intake through tierline.access, so count by name)
    assert _count(client, "api_keys", "name IN ('x', '')") == 0


def test_list_api_keys_never_shows_the_key_or_its_hash(client: TestClient) -> None:
    first = _issue(client, "incidents:read", name="reader")
    second = _issue(client, "incidents:write", name="writer")
    response = client.get("/v1/api-keys")
    assert response.status_code == 200
    listed = {item["id"]: item for item in response.json()}
    assert {first["id"], second["id"]} <= set(listed)
    for issued in (first, second):
        item = listed[issued["id"]]
        assert set(item) == {"id", "name", "scopes", "person", "created_at", "revoked_at"}
        assert item["name"] == issued["name"] and item["scopes"] == issued["scopes"]
        assert issued["key"] not in response.text
        assert _sha256(issued["key"]) not in response.text
    assert ADMIN_KEY not in response.text


def test_revoke_api_key_is_idempotent_and_unknown_is_404(client: TestClient) -> None:
    issued = _issue(client, "incidents:read")
    assert client.delete(f"/v1/api-keys/{issued['id']}").status_code == 204
    again = client.delete(f"/v1/api-keys/{issued['id']}")
    assert again.status_code == 204 and again.content == b""
    (item,) = [k for k in client.get("/v1/api-keys").json() if k["id"] == issued["id"]]
    assert item["revoked_at"] is not None
    _problem(client.delete(f"/v1/api-keys/{uuid.uuid4()}"), 404)
    assert client.delete("/v1/api-keys/not-a-uuid").status_code == 422
    assert _count(client, "outbox", "event_type = 'tierline.apikey.revoked.v1'") == 1


async def test_key_events_carry_hash_and_scopes_never_the_key(infra, client: TestClient) -> None:
    async with TopicReader(infra.bootstrap_servers, [topics.ACCESS]) as reader:
        issued = _issue(client, "incidents:write", "incidents:read", name="ci")
        assert client.delete(f"/v1/api-keys/{issued['id']}").status_code == 204
        revoked = await eventually(
            lambda: reader.of_type("tierline.apikey.revoked.v1", issued["id"]), what="revoked event"
        )
        (created,) = reader.of_type("tierline.apikey.created.v1", issued["id"])
    assert created.data.key_hash == _sha256(issued["key"])
    assert sorted(created.data.scopes) == ["incidents:read", "incidents:write"]
    assert created.data.name == "ci"
    assert str(revoked[0].data.key_id) == issued["id"]
    raw = [r for r in reader.records if r.key == issued["id"].encode()]
    assert len(raw) == 2
    secret = issued["key"].encode()
    secret_body = issued["key"].removeprefix("tl_").encode()
    for record in raw:
        assert secret not in record.value and secret_body not in record.value
        assert all(secret_body not in value for _, value in record.headers)


# -- rate limit ------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(make_client: MakeClient) -> None:
    clock = FixedClock(datetime(2030, 1, 7, 12, 0, 30, tzinfo=UTC))
    client = make_client(clock=clock, rate_limit_per_minute=3)
    for _ in range(3):
        assert client.get("/v1/incidents").status_code == 200
    response = client.get("/v1/incidents")
    problem = _problem(response, 429)
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert int(retry_after) == 30  # the fixed one-minute window ends 30 s after the clock
    assert problem["retry_after_seconds"] == 30
    # writes are counted against the same budget and refused before they change anything
    _problem(client.post("/v1/incidents", json=VALID), 429)
    assert _count(client, "incidents") == 0


def test_rate_limit_is_per_key_and_spares_health(make_client: MakeClient) -> None:
    clock = FixedClock(datetime(2030, 1, 7, 12, 0, 59, 500000, tzinfo=UTC))
    client = make_client(clock=clock, rate_limit_per_minute=3)
    other = client.post("/v1/api-keys", json={"name": "other", "scopes": ["incidents:read"]}).json()["key"]
    for _ in range(2):
        client.get("/v1/incidents")
    response = client.get("/v1/incidents")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert client.get("/v1/incidents", headers=_bearer(other)).status_code == 200
    assert _anonymous(client, "GET", "/healthz").status_code == 200
    clock.advance(datetime(2030, 1, 7, 12, 1, 0, tzinfo=UTC) - clock.now())
    assert client.get("/v1/incidents").status_code == 200


def test_rate_limit_with_the_system_clock(make_client: MakeClient) -> None:
    client = make_client(rate_limit_per_minute=3)
    statuses = [client.get("/v1/incidents") for _ in range(8)]
    limited = [r for r in statuses if r.status_code == 429]
    # 8 requests fall into at most two one-minute windows of 3: at least 2 are refused
    assert len(limited) >= 2
    for response in limited:
        _problem(response, 429)
        assert 1 <= int(response.headers["retry-after"]) <= 60


# -- body limit ------------------------------------------------------------------------------


def test_oversized_body_is_a_413_and_stores_nothing(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=1024)
    assert client.post("/v1/incidents", json=VALID).status_code == 201
    big = {**VALID, "description": "x" * 5000}
    response = client.post("/v1/incidents", json=big)
    problem = _problem(response, 413)
    assert problem["max_bytes"] == 1024
    assert _count(client, "incidents") == 1
    assert _count(client, "outbox", "event_type = 'tierline.incident.created.v1'") == 1


def _chunks(payload: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]


def test_oversized_chunked_body_without_content_length_is_a_413(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=1024)
    payload = json.dumps({**VALID, "description": "x" * 5000}).encode()
    request = client.build_request(
        "POST", "/v1/incidents", content=_chunks(payload), headers={"content-type": "application/json"}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = client.send(request)
    assert _count(client, "incidents") == 0
    _problem(response, 413)


def test_oversized_chunked_body_to_an_endpoint_reading_raw_bytes_is_a_413(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=1024)
    payload = json.dumps({"routing_key": "x" * 32, "event_action": "trigger", "pad": "y" * 5000}).encode()
    request = client.build_request(
        "POST", "/v2/enqueue", content=_chunks(payload), headers={"content-type": "application/json"}
    )
    assert "content-length" not in request.headers
    response = client.send(request)
    _problem(response, 413)
    assert _count(client, "incidents") == 0


def test_chunked_body_within_the_limit_is_accepted(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=1024)
    payload = json.dumps(VALID).encode()
    request = client.build_request(
        "POST", "/v1/incidents", content=_chunks(payload, 64), headers={"content-type": "application/json"}
    )
    response = client.send(request)
    assert response.status_code == 201, response.text


# -- Idempotency-Key -------------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_first_answer(client: TestClient) -> None:
    headers = {"Idempotency-Key": "create-1"}
    first = client.post("/v1/incidents", json=VALID, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = client.post("/v1/incidents", json=VALID, headers=headers)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    # the same JSON written differently is the same request
    reordered = json.dumps(dict(reversed(list(VALID.items()))), indent=2)
    third = client.post(
        "/v1/incidents", content=reordered, headers={**headers, "content-type": "application/json"}
    )
    assert third.status_code == 201 and third.json()["id"] == first.json()["id"]
    assert third.headers["idempotent-replayed"] == "true"
    assert _count(client, "incidents") == 1
    assert _count(client, "outbox") == 1


def test_same_idempotency_key_with_another_body_is_a_422_naming_the_header(client: TestClient) -> None:
    headers = {"Idempotency-Key": "create-2"}
    assert client.post("/v1/incidents", json=VALID, headers=headers).status_code == 201
    response = client.post("/v1/incidents", json={**VALID, "title": "Other"}, headers=headers)
    problem = _problem(response, 422)
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert problem["errors"][0]["in"] == "header"
    assert "Idempotency-Key" in problem["detail"]
    assert _count(client, "incidents") == 1


def test_same_idempotency_key_on_another_path_is_a_422(client: TestClient) -> None:
    a = client.post("/v1/incidents", json=VALID).json()
    b = client.post("/v1/incidents", json={**VALID, "title": "B"}).json()
    headers = {"Idempotency-Key": "ack-1"}
    assert client.post(f"/v1/incidents/{a['id']}/acknowledge", headers=headers).status_code == 200
    _problem(client.post(f"/v1/incidents/{b['id']}/acknowledge", headers=headers), 422)
    assert client.get(f"/v1/incidents/{b['id']}").json()["status"] == "open"


def test_different_idempotency_keys_create_different_incidents(client: TestClient) -> None:
    first = client.post("/v1/incidents", json=VALID, headers={"Idempotency-Key": "a"})
    second = client.post("/v1/incidents", json=VALID, headers={"Idempotency-Key": "b"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers
    assert _count(client, "incidents") == 2


def test_replayed_action_does_not_conflict_or_publish_twice(client: TestClient) -> None:
    incident = client.post("/v1/incidents", json=VALID).json()
    url = f"/v1/incidents/{incident['id']}/acknowledge"
    headers = {"Idempotency-Key": "ack-twice"}
    first = client.post(url, json={"by": "bob"}, headers=headers)
    second = client.post(url, json={"by": "bob"}, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert client.post(url, json={"by": "bob"}).status_code == 409  # without the key: a real retry
    assert _count(client, "outbox", "event_type = 'tierline.incident.acknowledged.v1'") == 1


def test_a_key_whose_first_request_failed_can_be_reused(client: TestClient) -> None:
    incident = client.post("/v1/incidents", json=VALID).json()
    url = f"/v1/incidents/{incident['id']}/close"
    headers = {"Idempotency-Key": "close-1"}
    _problem(client.post(url, headers=headers), 409)
    assert _count(client, "idempotency_keys") == 0
    assert client.post(f"/v1/incidents/{incident['id']}/resolve").status_code == 200
    closed = client.post(url, headers=headers)
    assert closed.status_code == 200, closed.text
    assert "idempotent-replayed" not in closed.headers
    assert closed.json()["status"] == "closed"
    replay = client.post(url, headers=headers)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"


def test_a_key_whose_first_request_was_invalid_can_be_reused(client: TestClient) -> None:
    headers = {"Idempotency-Key": "create-invalid"}
    assert (
        client.post("/v1/incidents", json={**VALID, "channel": "pigeon"}, headers=headers).status_code == 422
    )
    assert client.post("/v1/incidents", json=VALID, headers=headers).status_code == 201


def test_idempotency_keys_belong_to_the_api_key(client: TestClient) -> None:
    other = _bearer(_issue(client, "incidents:write")["key"])
    headers = {"Idempotency-Key": "shared-name"}
    mine = client.post("/v1/incidents", json=VALID, headers=headers)
    theirs = client.post("/v1/incidents", json=VALID, headers={**headers, **other})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


@pytest.mark.parametrize("key", ["k" * 256, "tab\there"])
def test_invalid_idempotency_key_is_a_422(client: TestClient, key: str) -> None:
    response = client.post("/v1/incidents", json=VALID, headers={"Idempotency-Key": key})
    problem = _problem(response, 422)
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    assert _count(client, "incidents") == 0


async def test_replayed_create_publishes_one_event(infra, client: TestClient) -> None:
    headers = {"Idempotency-Key": "create-event"}
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        first = client.post("/v1/incidents", json=VALID, headers=headers).json()
        client.post("/v1/incidents", json=VALID, headers=headers)
        # a later event of the same incident is the barrier for a duplicate created event
        client.post(f"/v1/incidents/{first['id']}/acknowledge")
        await eventually(
            lambda: reader.of_type("tierline.incident.acknowledged.v1", first["id"]), what="ack event"
        )
        created = reader.of_type("tierline.incident.created.v1", first["id"])
    assert len(created) == 1
    assert await asyncio.to_thread(_count, client, "incidents") == 1


# -- the consumer that applies key events ----------------------------------------------------


async def test_consumer_cancelled_inside_a_handler_stops(infra, new_database, unique: str) -> None:
    url = new_database("intake")
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, url)
    engine = db.create_engine(url)
    entered = asyncio.Event()

    async def handler(session: Any, envelope: Envelope) -> None:
        entered.set()
        await asyncio.Event().wait()  # a slow handler: only a cancel ends it

    consumer = EventConsumer(
        group_id=f"tierline-test-{unique}",
        topics=[topics.ACCESS],
        handlers={ApiKeyCreated: handler},
        bootstrap_servers=infra.bootstrap_servers,
        sessions=db.session_factory(engine),
        inbox=Base.metadata.tables["inbox"],
        producer=None,  # type: ignore[arg-type]
        max_attempts=5,
        retry_initial_seconds=0.01,
        retry_max_seconds=0.01,
    )
    event = ApiKeyCreated(
        key_id=uuid.uuid4(), name="k", key_hash="0" * 64, scopes=["admin"], created_at=datetime.now(UTC)
    )
    encoded = cloudevents.encode(Envelope(data=event, source="/tierline/intake"))
    record = ConsumerRecord(
        topic=encoded.topic,
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=encoded.key,
        value=encoded.value,
        checksum=None,
        serialized_key_size=len(encoded.key),
        serialized_value_size=len(encoded.value),
        headers=encoded.headers,
    )
    task = asyncio.create_task(consumer.process(record))
    try:
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done, "the cancelled consumer is still running"
        assert task.cancelled()
    finally:
        for _ in range(20):  # with the bug, each cancel only ends one attempt
            if task.done():
                break
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        await engine.dispose()
