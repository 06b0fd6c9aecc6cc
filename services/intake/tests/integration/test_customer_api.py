"""The optional customer of an incident, end to end: API, table, list filter and the created event.

The customer is set at creation only: the SLA monitor picks the policy from incident.created,
and an edit could not move it there.
"""

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


def _sql(client: TestClient, query: str) -> Any:
    return query_value(client.database_url, query)  # type: ignore[attr-defined]


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_customer_is_stored_returned_and_listed(client: TestClient) -> None:
    created = _create(client, customer="acme-corp", product="globalprotect")
    assert (created["customer"], created["product"]) == ("acme-corp", "globalprotect")
    fetched = client.get(f"/v1/incidents/{created['id']}").json()
    assert fetched["customer"] == "acme-corp"
    assert _sql(client, f"SELECT customer FROM incidents WHERE id = '{created['id']}'") == "acme-corp"
    (summary,) = client.get("/v1/incidents").json()["items"]
    assert summary["customer"] == "acme-corp"


def test_customer_is_optional(client: TestClient) -> None:
    created = _create(client)
    assert created["customer"] is None
    assert client.get(f"/v1/incidents/{created['id']}").json()["customer"] is None
    (summary,) = client.get("/v1/incidents").json()["items"]
    assert summary["customer"] is None


@pytest.mark.parametrize("customer", ["", " ", "has space", "-leading-dash", "x" * 121, 7])
def test_invalid_customer_is_a_422_naming_it(client: TestClient, customer: Any) -> None:
    response = client.post("/v1/incidents", json={**VALID, "customer": customer})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "customer" in [e["field"] for e in response.json()["errors"]]
    assert _sql(client, "SELECT count(*) FROM incidents") == 0


def test_list_filters_by_customer(client: TestClient) -> None:
    acme = _create(client, customer="acme-corp", product="globalprotect")
    globex = _create(client, customer="globex")
    none = _create(client)
    assert _ids(client.get("/v1/incidents", params={"customer": "acme-corp"})) == [acme["id"]]
    assert _ids(client.get("/v1/incidents", params={"customer": "globex", "service": "vpn"})) == [
        globex["id"]
    ]
    both = {"customer": "acme-corp", "product": "globalprotect"}
    assert _ids(client.get("/v1/incidents", params=both)) == [acme["id"]]
    assert _ids(client.get("/v1/incidents", params={"customer": "acme-corp", "product": "other"})) == []
    assert _ids(client.get("/v1/incidents", params={"customer": "initech"})) == []
    assert _ids(client.get("/v1/incidents")) == [none["id"], globex["id"], acme["id"]]


@pytest.mark.parametrize("customer", ["bad\u0000nul", "c" * 121])
def test_bad_customer_filter_is_a_422(client: TestClient, customer: str) -> None:
    response = client.get("/v1/incidents", params={"customer": customer})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in response.json()["errors"]] == ["customer"]


@pytest.mark.parametrize("customer", ["globex", None])
def test_customer_cannot_be_edited(client: TestClient, customer: str | None) -> None:
    incident = _create(client, customer="acme-corp")
    response = client.patch(f"/v1/incidents/{incident['id']}", json={"customer": customer})
    assert response.status_code == 422, response.text
    assert "customer" in [e["field"] for e in response.json()["errors"]]
    body = client.get(f"/v1/incidents/{incident['id']}").json()
    assert body["customer"] == "acme-corp"
    assert [e["kind"] for e in body["timeline"]] == ["created"]


def test_a_repeated_report_keeps_the_first_customer(client: TestClient) -> None:
    first = _create(client, customer="acme-corp", dedup_key="vpn-sales")
    again = client.post("/v1/incidents", json={**VALID, "customer": "globex", "dedup_key": "vpn-sales"})
    assert again.status_code == 200, again.text
    assert (again.json()["id"], again.json()["customer"], again.json()["occurrences"]) == (
        first["id"],
        "acme-corp",
        2,
    )


def test_openapi_documents_the_customer(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "customer" not in schemas["IncidentIn"].get("required", [])
    assert schemas["IncidentIn"]["examples"][0]["customer"] == "acme-corp"
    assert "customer" not in schemas["IncidentPatch"]["properties"]
    assert "customer" in schemas["IncidentOut"]["required"]  # present, maybe null
    assert "customer" in schemas["IncidentSummaryOut"]["required"]
    listed = [p["name"] for p in doc["paths"]["/v1/incidents"]["get"]["parameters"]]
    assert "customer" in listed


async def test_the_created_event_carries_the_customer(infra, client: TestClient) -> None:
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        with_customer = _create(client, customer="acme-corp")["id"]
        without = _create(client)["id"]
        created = await eventually(
            lambda: (
                (a := reader.of_type("tierline.incident.created.v1", with_customer))
                and (b := reader.of_type("tierline.incident.created.v1", without))
                and (a[0], b[0])
            ),
            what="both created events",
        )
    assert created[0].data.customer == "acme-corp"
    assert created[1].data.customer is None


def test_the_outbox_holds_the_customer_as_published(client: TestClient) -> None:
    incident = _create(client, customer="acme-corp")
    outboxed = _sql(
        client,
        "SELECT convert_from(value, 'UTF8')::jsonb ->> 'customer' FROM outbox"
        f" WHERE event_type = 'tierline.incident.created.v1' AND key = '{incident['id']}'",
    )
    assert outboxed == "acme-corp"
