"""Intake's HTTP API on the real PostgreSQL and Kafka."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tierline_shared.events import topics
from tierline_shared.testing import TopicReader, eventually, query_value

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
ADMIN_KEY = "tl_test-admin-key-for-intake-integration-tests"

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


def _count(url: str, table: str) -> int:
    return query_value(url, f"SELECT count(*) FROM {table}")


def test_create_returns_201_location_and_derived_priority(client: TestClient) -> None:
    response = client.post("/v1/incidents", json=VALID)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"].endswith(f"/v1/incidents/{body['id']}")
    assert body["priority"] == "P2" and body["priority_source"] == "matrix"
    assert body["status"] == "open"
    assert body["timeline"][0]["kind"] == "created"
    fetched = client.get(f"/v1/incidents/{body['id']}").json()
    assert fetched["id"] == body["id"] and fetched["title"] == VALID["title"]


def test_explicit_priority_overrides_the_matrix(client: TestClient) -> None:
    body = client.post("/v1/incidents", json={**VALID, "priority": "P4"}).json()
    assert (body["priority"], body["priority_source"]) == ("P4", "explicit")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"title": ""}, "title"),
        ({"impact": None, "urgency": None}, "impact"),
        ({"urgency": None}, "body"),
        ({"priority": "P9"}, "priority"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_input_is_a_422_naming_the_field_and_stores_nothing(
    client: TestClient, change: dict, field: str
) -> None:
    payload = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    response = client.post("/v1/incidents", json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    fields = [e["field"] for e in response.json()["errors"]]
    assert field in fields
    assert _count(client.database_url, "incidents") == 0
    assert _count(client.database_url, "outbox") == 0


def test_malformed_json_is_a_422_problem(client: TestClient) -> None:
    response = client.post(
        "/v1/incidents", content=b'{"title": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Malformed JSON"


def test_lifecycle_and_illegal_transition(client: TestClient) -> None:
    incident = client.post("/v1/incidents", json=VALID).json()
    url = f"/v1/incidents/{incident['id']}"
    acked = client.post(f"{url}/acknowledge", json={"by": "bob"})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert client.post(f"{url}/acknowledge").status_code == 409
    resolved = client.post(f"{url}/resolve", json={"resolution_code": "fixed", "note": "restarted"})
    assert resolved.json()["status"] == "resolved"
    again = client.post(f"{url}/resolve")
    assert again.status_code == 409
    assert again.json()["current_status"] == "resolved"
    kinds = [e["kind"] for e in client.get(url).json()["timeline"]]
    assert kinds == ["created", "acknowledged", "resolved"]


def test_unknown_incident_is_404_problem(client: TestClient) -> None:
    response = client.get(f"/v1/incidents/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/incidents/not-a-uuid").status_code == 422


def test_open_incident_with_same_dedup_key_is_returned_not_duplicated(client: TestClient) -> None:
    first = client.post("/v1/incidents", json={**VALID, "dedup_key": "disk-full-db1"})
    second = client.post("/v1/incidents", json={**VALID, "dedup_key": "disk-full-db1"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    client.post(f"/v1/incidents/{first.json()['id']}/resolve")
    third = client.post("/v1/incidents", json={**VALID, "dedup_key": "disk-full-db1"})
    assert third.status_code == 201 and third.json()["id"] != first.json()["id"]


async def test_created_event_is_published_through_the_outbox(infra, client: TestClient) -> None:
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        incident = client.post("/v1/incidents", json=VALID).json()
        found = await eventually(lambda: reader.of_type("tierline.incident.created.v1", incident["id"]))
    assert found[0].data.title == VALID["title"]
    assert found[0].data.priority == "P2"


def test_health_readiness_metrics_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": True,
        "kafka": True,
        "workers": True,
    }
    client.post("/v1/incidents", json=VALID)
    assert "tierline_http_requests_total" in client.get("/metrics").text
    assert "/v1/incidents" in client.get("/openapi.json").json()["paths"]


def test_nul_characters_are_refused_with_a_422_not_stored(client: TestClient) -> None:
    response = client.post("/v1/incidents", json={**VALID, "title": "bad\u0000title"})
    assert response.status_code == 422
    assert "NUL" in response.json()["errors"][0]["reason"]
    assert _count(client.database_url, "incidents") == 0


def test_concurrent_creates_with_one_dedup_key_make_one_incident(client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    payload = {**VALID, "dedup_key": "race-1"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/incidents", json=payload), range(4)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert _count(client.database_url, "incidents") == 1
    assert client.get(f"/v1/incidents/{responses[0].json()['id']}").json()["occurrences"] == 4
