"""An incident's type through the API on the real PostgreSQL and Kafka: set, changed, listed, announced."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.events import topics
from tierline_shared.testing import TopicReader, eventually, query_value

from .conftest import vpn_incident

pytestmark = pytest.mark.integration
PROBLEM_JSON = "application/problem+json"
RESET = {"title": "Password reset for bob", "service": "identity", "category": "account"}


def _create(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/incidents", json=vpn_incident(**fields))
    assert response.status_code == 201, response.text
    return response.json()


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return [e["field"] for e in response.json()["errors"]]


async def test_a_service_request_is_stored_answered_and_announced(infra, client: TestClient) -> None:
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        request = _create(client, **RESET, type="service_request")
        default = _create(client)
        created = await eventually(
            lambda: reader.of_type("tierline.incident.created.v1", request["id"]), what="created event"
        )
        plain = await eventually(
            lambda: reader.of_type("tierline.incident.created.v1", default["id"]), what="created event"
        )
    assert (request["type"], default["type"]) == ("service_request", "incident")
    assert (created[0].data.type, plain[0].data.type) == ("service_request", "incident")
    assert client.get(f"/v1/incidents/{request['id']}").json()["type"] == "service_request"
    assert request["timeline"][0]["summary"].startswith("Created a service request via web")
    stored = f"SELECT type FROM incidents WHERE id = '{request['id']}'"
    url = client.database_url  # type: ignore[attr-defined]
    assert await asyncio.to_thread(query_value, url, stored) == "service_request"


async def test_a_type_change_is_an_edit_on_the_timeline_and_in_the_event(infra, client: TestClient) -> None:
    incident = _create(client, **RESET)
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        response = client.patch(
            f"/v1/incidents/{incident['id']}", json={"type": "service_request", "by": "lena"}
        )
        assert response.status_code == 200, response.text
        found = await eventually(
            lambda: reader.of_type("tierline.incident.updated.v1", incident["id"]), what="updated event"
        )
    body = response.json()
    assert body["type"] == "service_request" and body["priority"] == incident["priority"]
    line = body["timeline"][-1]
    assert (line["kind"], line["summary"]) == ("updated", "Updated: type 'incident' -> 'service_request'")
    assert line["data"] == {"type": {"old": "incident", "new": "service_request"}}
    event = found[0].data
    assert {k: (v.old, v.new) for k, v in event.changes.items()} == {"type": ("incident", "service_request")}
    assert (event.type, event.priority, event.by) == ("service_request", "P2", "lena")
    again = client.patch(f"/v1/incidents/{incident['id']}", json={"type": "service_request"})
    assert again.status_code == 200 and [e["kind"] for e in again.json()["timeline"]].count("updated") == 1


def test_the_list_filters_by_type(client: TestClient) -> None:
    requests = {_create(client, **RESET, type="service_request")["id"] for _ in range(2)}
    incidents = {_create(client)["id"], _create(client, type="incident")["id"]}

    def listed(**params: Any) -> set[str]:
        response = client.get("/v1/incidents", params=params)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return {item["id"] for item in items if item["type"] in {"incident", "service_request"}}

    assert listed(type="service_request") == requests
    assert listed(type="incident") == incidents
    assert listed(type=["incident", "service_request"]) == requests | incidents
    assert listed() == requests | incidents
    assert listed(type="service_request", service="vpn") == set()
    assert _fields(client.get("/v1/incidents", params={"type": "change"})) == ["type"]


@pytest.mark.parametrize("bad", ["change", "", "SERVICE_REQUEST", None, 1, ["incident"]])
def test_a_bad_type_is_a_422_naming_it_and_changes_nothing(client: TestClient, bad: Any) -> None:
    assert _fields(client.post("/v1/incidents", json=vpn_incident(type=bad))) == ["type"]
    assert query_value(client.database_url, "SELECT count(*) FROM incidents") == 0  # type: ignore[attr-defined]
    incident = _create(client)
    assert _fields(client.patch(f"/v1/incidents/{incident['id']}", json={"type": bad})) == ["type"]
    after = client.get(f"/v1/incidents/{incident['id']}").json()
    assert after["type"] == "incident" and after["updated_at"] == incident["updated_at"]
