"""The optional product of an incident, end to end: API, table, list filter and published events."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.events import topics
from tierline_shared.testing import TopicReader, eventually, query_value

pytestmark = pytest.mark.integration
PROBLEM_JSON = "application/problem+json"

VALID = {
    "title": "VPN down for sales",
    "service": "vpn",
    "category": "network",
    "impact": "high",
    "urgency": "medium",
    "channel": "web",
    "reporter": "alice@example.com",
}


def _create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/incidents", json={**VALID, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def _patch(client: TestClient, incident_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/v1/incidents/{incident_id}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _sql(client: TestClient, query: str) -> Any:
    return query_value(client.database_url, query)  # type: ignore[attr-defined]


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_product_is_stored_returned_and_listed(client: TestClient) -> None:
    created = _create(client, product="globalprotect")
    assert created["product"] == "globalprotect"
    fetched = client.get(f"/v1/incidents/{created['id']}").json()
    assert fetched["product"] == "globalprotect"
    assert _sql(client, f"SELECT product FROM incidents WHERE id = '{created['id']}'") == "globalprotect"
    (summary,) = client.get("/v1/incidents").json()["items"]
    assert summary["product"] == "globalprotect"


def test_product_is_optional(client: TestClient) -> None:
    created = _create(client)
    assert created["product"] is None
    assert client.get(f"/v1/incidents/{created['id']}").json()["product"] is None


@pytest.mark.parametrize("product", ["", " ", "has space", "-leading-dash", "x" * 121, 7])
def test_invalid_product_is_a_422_naming_it(client: TestClient, product: Any) -> None:
    response = client.post("/v1/incidents", json={**VALID, "product": product})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "product" in [e["field"] for e in response.json()["errors"]]
    assert _sql(client, "SELECT count(*) FROM incidents") == 0


def test_patch_sets_changes_and_clears_the_product(client: TestClient) -> None:
    incident = _create(client)
    body = _patch(client, incident["id"], {"product": "anyconnect", "by": "gina"})
    assert body["product"] == "anyconnect" and body["priority"] == "P2"
    assert body["timeline"][-1]["kind"] == "updated"
    assert body["timeline"][-1]["data"] == {"product": {"old": None, "new": "anyconnect"}}
    body = _patch(client, incident["id"], {"product": "globalprotect"})
    assert body["timeline"][-1]["data"] == {"product": {"old": "anyconnect", "new": "globalprotect"}}
    body = _patch(client, incident["id"], {"product": None})
    assert body["product"] is None
    assert body["timeline"][-1]["data"] == {"product": {"old": "globalprotect", "new": None}}
    assert client.get(f"/v1/incidents/{incident['id']}").json()["product"] is None


def test_patch_to_the_same_product_changes_nothing(client: TestClient) -> None:
    incident = _create(client, product="globalprotect")
    body = _patch(client, incident["id"], {"product": "globalprotect"})
    assert [e["kind"] for e in body["timeline"]] == ["created"]
    body = _patch(client, _create(client)["id"], {"product": None})
    assert [e["kind"] for e in body["timeline"]] == ["created"]


@pytest.mark.parametrize("body", [{"product": ""}, {"product": "two words"}, {"product": "p" * 121}])
def test_patch_with_an_invalid_product_is_a_422(client: TestClient, body: dict[str, Any]) -> None:
    incident = _create(client, product="globalprotect")
    response = client.patch(f"/v1/incidents/{incident['id']}", json=body)
    assert response.status_code == 422, response.text
    assert "product" in [e["field"] for e in response.json()["errors"]]
    assert client.get(f"/v1/incidents/{incident['id']}").json()["product"] == "globalprotect"


def test_other_fields_still_cannot_be_nulled_alongside_the_product(client: TestClient) -> None:
    incident = _create(client, product="globalprotect")
    response = client.patch(f"/v1/incidents/{incident['id']}", json={"product": None, "service": None})
    assert response.status_code == 422, response.text
    assert "service cannot be null" in response.text and "product cannot" not in response.text


def test_list_filters_by_product(client: TestClient) -> None:
    gp = _create(client, product="globalprotect")
    ac = _create(client, product="anyconnect")
    none = _create(client)
    assert _ids(client.get("/v1/incidents", params={"product": "globalprotect"})) == [gp["id"]]
    assert _ids(client.get("/v1/incidents", params={"product": "anyconnect", "service": "vpn"})) == [ac["id"]]
    assert _ids(client.get("/v1/incidents", params={"product": "nothing-here"})) == []
    assert _ids(client.get("/v1/incidents")) == [none["id"], ac["id"], gp["id"]]
    _patch(client, none["id"], {"product": "globalprotect"})
    assert _ids(client.get("/v1/incidents", params={"product": "globalprotect"})) == [none["id"], gp["id"]]


@pytest.mark.parametrize("product", ["bad\u0000nul", "p" * 121])
def test_bad_product_filter_is_a_422(client: TestClient, product: str) -> None:
    response = client.get("/v1/incidents", params={"product": product})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in response.json()["errors"]] == ["product"]


def test_openapi_documents_the_product(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "product" not in schemas["IncidentIn"].get("required", [])
    assert schemas["IncidentIn"]["examples"][0]["product"] == "globalprotect"
    assert "product" in schemas["IncidentPatch"]["properties"]
    assert "product" in schemas["IncidentOut"]["required"]  # present, maybe null
    listed = [p["name"] for p in doc["paths"]["/v1/incidents"]["get"]["parameters"]]
    assert "product" in listed


async def test_created_and_updated_events_carry_the_product(infra, client: TestClient) -> None:
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        incident = _create(client, product="anyconnect")
        iid = incident["id"]
        _patch(client, iid, {"product": "globalprotect", "by": "gina"})
        _patch(client, iid, {"title": "VPN down everywhere"})
        _patch(client, iid, {"product": None})
        updated = await eventually(
            lambda: (
                (found := reader.of_type("tierline.incident.updated.v1", iid)) and len(found) == 3 and found
            ),
            what="three updated events",
        )
        (created,) = reader.of_type("tierline.incident.created.v1", iid)
    assert created.data.product == "anyconnect"
    changed, untouched, cleared = (e.data for e in updated)
    assert {k: (v.old, v.new) for k, v in changed.changes.items()} == {
        "product": ("anyconnect", "globalprotect")
    }
    assert (changed.product, changed.service, changed.category, changed.by) == (
        "globalprotect",
        "vpn",
        "network",
        "gina",
    )
    assert set(untouched.changes) == {"title"} and untouched.product == "globalprotect"
    assert {k: (v.old, v.new) for k, v in cleared.changes.items()} == {"product": ("globalprotect", None)}
    assert cleared.product is None


def test_the_outbox_holds_the_product_as_published(client: TestClient) -> None:
    incident = _create(client, product="anyconnect")
    _patch(client, incident["id"], {"product": "globalprotect"})

    def product_in(event_type: str) -> Any:
        return _sql(
            client,
            "SELECT convert_from(value, 'UTF8')::jsonb ->> 'product' FROM outbox"
            f" WHERE event_type = 'tierline.incident.{event_type}.v1'",
        )

    assert product_in("created") == "anyconnect"
    assert product_in("updated") == "globalprotect"
