"""Monitoring integrations on the real PostgreSQL and Kafka: their admin API, PagerDuty Events API v2
(/v2/enqueue) and Alertmanager webhooks."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.clock import FixedClock
from tierline_shared.testing import query_value

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ADMIN_KEY = "tl_test-admin-key-for-intake-integration-tests"
PROBLEM_JSON = "application/problem+json"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
PD_ACCEPTED = {"status": "success", "message": "Event processed"}
FINGERPRINTS = ("1a30ba71cca2921f", "5f2c6e1d9b0a7c43")

MakeClient = Callable[..., TestClient]


# -- helpers ---------------------------------------------------------------------------------


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _integration(client: TestClient, type_: str, *, name: str = "prod", service: str = "payments") -> dict:
    response = client.post("/v1/integrations", json={"type": type_, "name": name, "service": service})
    assert response.status_code == 201, response.text
    return response.json()


def _pd(name: str, routing_key: str, **changes: Any) -> dict[str, Any]:
    event = _fixture(f"pagerduty_{name}.json")
    event["routing_key"] = routing_key
    event.update(changes)
    return event


def _enqueue(client: TestClient, event: Any) -> Any:
    """POST to /v2/enqueue as a monitoring tool would: no bearer key."""
    request = client.build_request("POST", "/v2/enqueue", json=event)
    del request.headers["Authorization"]
    return client.send(request)


def _alertmanager(client: TestClient, key: str, payload: Any) -> Any:
    request = client.build_request("POST", f"/v1/integrations/alertmanager/{key}", json=payload)
    del request.headers["Authorization"]
    return client.send(request)


def _monitoring_incidents(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/v1/incidents", params={"channel": "monitoring"})
    assert response.status_code == 200, response.text
    return [client.get(f"/v1/incidents/{item['id']}").json() for item in response.json()["items"]]


def _count(client: TestClient, table: str) -> int:
    return query_value(client.database_url, f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]


def _pd_invalid(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"status", "message", "errors"}
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert body["errors"] and all(isinstance(e, str) for e in body["errors"])
    return body["errors"]


# -- integrations: the admin API -------------------------------------------------------------


@pytest.mark.parametrize("type_", ["pagerduty", "alertmanager"])
def test_create_integration_shows_its_key_once(client: TestClient, type_: str) -> None:
    response = client.post(
        "/v1/integrations", json={"type": type_, "name": "prod-mon", "service": "payments"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert HEX32.match(body["key"]), body["key"]
    assert body["key_hint"] == body["key"][-4:]
    assert (body["type"], body["name"], body["service"]) == (type_, "prod-mon", "payments")
    assert body["revoked_at"] is None
    if type_ == "pagerduty":
        assert body["endpoint"].endswith("/v2/enqueue")
    else:
        assert body["endpoint"].endswith(f"/v1/integrations/alertmanager/{body['key']}")
    assert _integration(client, type_)["key"] != body["key"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "nagios", "name": "n", "service": "payments"},
        {"type": "pagerduty", "name": "", "service": "payments"},
        {"type": "pagerduty", "name": "n", "service": "has spaces"},
        {"type": "pagerduty", "name": "n"},
        {"type": "pagerduty", "name": "n", "service": "payments", "key": "mine"},
    ],
)
def test_invalid_integration_is_a_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/v1/integrations", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert _count(client, "integrations") == 0


def test_list_integrations_shows_the_key_hint_only(client: TestClient) -> None:
    pd = _integration(client, "pagerduty", name="pd")
    am = _integration(client, "alertmanager", name="am")
    response = client.get("/v1/integrations")
    assert response.status_code == 200
    listed = {item["id"]: item for item in response.json()}
    assert set(listed) == {pd["id"], am["id"]}
    for created in (pd, am):
        item = listed[created["id"]]
        assert "key" not in item
        assert item["key_hint"] == created["key"][-4:]
        assert created["key"] not in response.text
    assert listed[pd["id"]]["endpoint"].endswith("/v2/enqueue")
    assert listed[am["id"]]["endpoint"].endswith("/v1/integrations/alertmanager/<key>")


def test_revoked_integration_keys_are_rejected(client: TestClient) -> None:
    pd = _integration(client, "pagerduty")
    am = _integration(client, "alertmanager")
    assert _enqueue(client, _pd("trigger", pd["key"])).status_code == 202
    assert _alertmanager(client, am["key"], _fixture("alertmanager_firing.json")).status_code == 200
    for created in (pd, am):
        assert client.delete(f"/v1/integrations/{created['id']}").status_code == 204
        assert client.delete(f"/v1/integrations/{created['id']}").status_code == 204  # idempotent
    listed = {item["id"]: item for item in client.get("/v1/integrations").json()}
    assert listed[pd["id"]]["revoked_at"] is not None and listed[am["id"]]["revoked_at"] is not None
    before = _count(client, "timeline")
    errors = _pd_invalid(_enqueue(client, _pd("trigger", pd["key"], dedup_key="after-revoke")))
    assert any("routing_key" in e for e in errors)
    response = _alertmanager(client, am["key"], _fixture("alertmanager_firing.json"))
    assert response.status_code == 401 and response.headers["content-type"] == PROBLEM_JSON
    assert _count(client, "timeline") == before
    assert len(_monitoring_incidents(client)) == 3


def test_revoke_unknown_integration_is_a_404(client: TestClient) -> None:
    response = client.delete(f"/v1/integrations/{uuid.uuid4()}")
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM_JSON


def test_keys_only_work_for_their_own_kind(client: TestClient) -> None:
    pd = _integration(client, "pagerduty")
    am = _integration(client, "alertmanager")
    _pd_invalid(_enqueue(client, _pd("trigger", am["key"])))
    assert _alertmanager(client, pd["key"], _fixture("alertmanager_firing.json")).status_code == 401
    assert _count(client, "incidents") == 0


# -- PagerDuty Events API v2 -----------------------------------------------------------------


def test_pagerduty_trigger_opens_a_monitoring_incident(client: TestClient) -> None:
    pd = _integration(client, "pagerduty", name="pd-prod", service="payments")
    response = _enqueue(client, _pd("trigger", pd["key"]))
    assert response.status_code == 202, response.text
    assert response.json() == {**PD_ACCEPTED, "dedup_key": "samplekeyhere"}
    (incident,) = _monitoring_incidents(client)
    assert incident["channel"] == "monitoring"
    assert incident["service"] == "payments"
    assert incident["dedup_key"] == "samplekeyhere"
    assert incident["title"] == "Example alert on host1.example.com"
    assert incident["category"] == "deploy"
    assert (incident["impact"], incident["urgency"], incident["priority"]) == ("low", "low", "P4")
    assert incident["priority_source"] == "matrix"
    assert incident["reporter"].startswith("monitoringtool:cloudvendor")
    assert incident["status"] == "open" and incident["occurrences"] == 1
    assert incident["type"] == "incident"  # an alert is something broken, never a request
    details = incident["details"]
    assert details["integration"] == "pd-prod" and details["format"] == "pagerduty-events-v2"
    assert details["custom_details"] == {"ping time": "1500ms", "load avg": 0.75}
    assert details["severity"] == "info"
    assert "ping time: 1500ms" in incident["description"]


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", "P1"), ("error", "P2"), ("warning", "P3"), ("info", "P4")]
)
def test_pagerduty_priority_follows_severity(client: TestClient, severity: str, priority: str) -> None:
    pd = _integration(client, "pagerduty")
    event = _pd("trigger", pd["key"])
    event["payload"]["severity"] = severity
    assert _enqueue(client, event).status_code == 202
    (incident,) = _monitoring_incidents(client)
    assert incident["priority"] == priority


def test_pagerduty_trigger_again_counts_an_occurrence(client: TestClient) -> None:
    pd = _integration(client, "pagerduty")
    first = _enqueue(client, _pd("trigger", pd["key"]))
    second = _enqueue(client, _pd("trigger", pd["key"]))
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == second.json()
    (incident,) = _monitoring_incidents(client)
    assert incident["occurrences"] == 2
    assert [e["kind"] for e in incident["timeline"]] == ["created", "occurrence"]


def test_pagerduty_acknowledge_then_resolve(client: TestClient) -> None:
    pd = _integration(client, "pagerduty")
    _enqueue(client, _pd("trigger", pd["key"]))
    acked = _enqueue(client, _pd("acknowledge", pd["key"], dedup_key="samplekeyhere"))
    assert acked.status_code == 202
    assert acked.json() == {**PD_ACCEPTED, "dedup_key": "samplekeyhere"}
    (incident,) = _monitoring_incidents(client)
    assert incident["status"] == "acknowledged" and incident["acknowledged_at"] is not None
    # acknowledging again changes nothing and is still accepted
    assert _enqueue(client, _pd("acknowledge", pd["key"], dedup_key="samplekeyhere")).status_code == 202
    resolved = _enqueue(client, _pd("resolve", pd["key"], dedup_key="samplekeyhere"))
    assert resolved.status_code == 202
    (incident,) = _monitoring_incidents(client)
    assert incident["status"] == "resolved"
    assert incident["resolution_code"] == "auto_resolved"
    assert [e["kind"] for e in incident["timeline"]] == ["created", "acknowledged", "resolved"]
    assert incident["timeline"][-1]["data"]["source"] == "integration"


def test_pagerduty_trigger_after_resolve_opens_a_new_incident(client: TestClient) -> None:
    pd = _integration(client, "pagerduty")
    _enqueue(client, _pd("trigger", pd["key"]))
    _enqueue(client, _pd("resolve", pd["key"], dedup_key="samplekeyhere"))
    assert _enqueue(client, _pd("trigger", pd["key"])).status_code == 202
    incidents = _monitoring_incidents(client)
    assert [i["status"] for i in incidents] == ["open", "resolved"]
    assert {i["dedup_key"] for i in incidents} == {"samplekeyhere"}


def test_pagerduty_follow_ups_for_unknown_dedup_keys_are_accepted_and_ignored(client: TestClient) -> None:
    pd = _integration(client, "pagerduty")
    for name in ("acknowledge", "resolve"):
        response = _enqueue(client, _pd(name, pd["key"], dedup_key="nothing-open"))
        assert response.status_code == 202
        assert response.json() == {**PD_ACCEPTED, "dedup_key": "nothing-open"}
    assert _count(client, "incidents") == 0


@pytest.mark.parametrize("dedup_key", [None, "", "   "])
def test_pagerduty_trigger_without_dedup_key_gets_a_generated_one(client: TestClient, dedup_key: Any) -> None:
    pd = _integration(client, "pagerduty")
    event = _pd("trigger", pd["key"])
    if dedup_key is None:
        del event["dedup_key"]
    else:
        event["dedup_key"] = dedup_key
    first = _enqueue(client, event)
    second = _enqueue(client, event)
    assert first.status_code == 202, first.text
    generated = first.json()["dedup_key"]
    assert HEX32.match(generated)
    assert second.json()["dedup_key"] != generated  # each keyless trigger is its own alert
    incidents = _monitoring_incidents(client)
    assert len(incidents) == 2
    assert generated in {i["dedup_key"] for i in incidents}
    # the generated key works for follow-ups
    assert _enqueue(client, _pd("resolve", pd["key"], dedup_key=generated)).status_code == 202
    (resolved,) = [i for i in _monitoring_incidents(client) if i["dedup_key"] == generated]
    assert resolved["status"] == "resolved"


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    target = event
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return event


def _with(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return event


INVALID_EVENTS: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("no summary", lambda e: _without(e, "payload", "summary"), "'payload.summary' is missing or blank"),
    (
        "blank summary",
        lambda e: _with(e, "  ", "payload", "summary"),
        "'payload.summary' is missing or blank",
    ),
    ("no source", lambda e: _without(e, "payload", "source"), "'payload.source' is missing or blank"),
    (
        "bad severity",
        lambda e: _with(e, "fatal", "payload", "severity"),
        "'payload.severity' is invalid (must be one of the following: "
        "'critical', 'warning', 'error' or 'info')",
    ),
    (
        "bad action",
        lambda e: _with(e, "explode", "event_action"),
        "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')",
    ),
    ("no action", lambda e: _without(e, "event_action"), "'event_action' is missing or blank"),
    ("no payload", lambda e: _without(e, "payload"), "'payload' is missing or blank"),
    ("no routing key", lambda e: _without(e, "routing_key"), "'routing_key' is missing or blank"),
    ("long dedup key", lambda e: _with(e, "d" * 256, "dedup_key"), "'dedup_key' is too long"),
    (
        "summary too long",
        lambda e: _with(e, "s" * 1025, "payload", "summary"),
        "'payload.summary' is too long",
    ),
    (
        "bad timestamp",
        lambda e: _with(e, "yesterday", "payload", "timestamp"),
        "'payload.timestamp' is invalid",
    ),
    ("array", lambda e: [e], "Event must be a JSON object"),
    ("string", lambda e: "trigger", "Event must be a JSON object"),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, x) for _, c, x in INVALID_EVENTS], ids=[n for n, _, _ in INVALID_EVENTS]
)
def test_invalid_pagerduty_events_are_a_400_in_pagerdutys_shape(
    client: TestClient, change: Callable[[dict[str, Any]], Any], expected: str
) -> None:
    pd = _integration(client, "pagerduty")
    errors = _pd_invalid(_enqueue(client, change(_pd("trigger", pd["key"]))))
    assert any(e.startswith(expected) for e in errors), errors
    assert _count(client, "incidents") == 0


def test_pagerduty_follow_up_without_dedup_key_is_a_400(client: TestClient) -> None:
    pd = _integration(client, "pagerduty")
    for name in ("acknowledge", "resolve"):
        event = _pd(name, pd["key"])
        del event["dedup_key"]
        assert _pd_invalid(_enqueue(client, event)) == ["'dedup_key' is missing or blank"]


def test_pagerduty_unknown_routing_key_is_a_400(client: TestClient) -> None:
    _integration(client, "pagerduty")
    errors = _pd_invalid(_enqueue(client, _pd("trigger", "f" * 32)))
    assert errors == ["'routing_key' is not the key of an active PagerDuty integration"]
    assert _count(client, "incidents") == 0


@pytest.mark.parametrize("body", [b"not json", b'{"routing_key": ', b"", b"\xff\xfe"])
def test_pagerduty_non_json_body_is_a_400(client: TestClient, body: bytes) -> None:
    request = client.build_request(
        "POST", "/v2/enqueue", content=body, headers={"content-type": "application/json"}
    )
    del request.headers["Authorization"]
    assert _pd_invalid(client.send(request)) == ["Event must be valid JSON"]


def test_pagerduty_events_are_rate_limited_per_integration(make_client: MakeClient) -> None:
    clock = FixedClock(datetime(2030, 1, 7, 12, 0, 45, tzinfo=UTC))
    client = make_client(clock=clock, rate_limit_per_minute=3)
    pd = _integration(client, "pagerduty")
    for i in range(3):
        assert _enqueue(client, _pd("trigger", pd["key"], dedup_key=f"k{i}")).status_code == 202
    response = _enqueue(client, _pd("trigger", pd["key"], dedup_key="k3"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "15"
    assert _count(client, "incidents") == 3


# -- Alertmanager ----------------------------------------------------------------------------


def test_alertmanager_firing_opens_one_incident_per_alert(client: TestClient) -> None:
    am = _integration(client, "alertmanager", name="prom", service="web")
    payload = _fixture("alertmanager_firing.json")
    response = _alertmanager(client, am["key"], payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["alerts"] == 2 and len(body["incident_ids"]) == 2
    incidents = {i["dedup_key"]: i for i in _monitoring_incidents(client)}
    assert set(incidents) == set(FINGERPRINTS)
    assert {i["id"] for i in incidents.values()} == set(body["incident_ids"])
    for alert in payload["alerts"]:
        incident = incidents[alert["fingerprint"]]
        assert incident["channel"] == "monitoring"
        assert incident["service"] == "checkout"  # the alert's service label wins over the default
        assert incident["category"] == "probefailure"
        assert incident["title"] == alert["annotations"]["summary"]
        assert incident["details"]["labels"] == alert["labels"]
        assert incident["details"]["annotations"] == alert["annotations"]
        assert incident["details"]["fingerprint"] == alert["fingerprint"]
        assert incident["details"]["integration"] == "prom"
        assert incident["details"]["endsAt"] is None
        assert incident["reporter"] == "alertmanager/tierline"
    assert incidents[FINGERPRINTS[0]]["priority"] == "P1"  # critical
    assert incidents[FINGERPRINTS[1]]["priority"] == "P3"  # warning


def test_alertmanager_without_service_label_uses_the_integrations_service(client: TestClient) -> None:
    am = _integration(client, "alertmanager", service="web")
    payload = _fixture("alertmanager_firing.json")
    for alert in payload["alerts"]:
        del alert["labels"]["service"]
    assert _alertmanager(client, am["key"], payload).status_code == 200
    assert {i["service"] for i in _monitoring_incidents(client)} == {"web"}


def test_alertmanager_repeated_firing_counts_occurrences(client: TestClient) -> None:
    am = _integration(client, "alertmanager")
    first = _alertmanager(client, am["key"], _fixture("alertmanager_firing.json")).json()
    second = _alertmanager(client, am["key"], _fixture("alertmanager_firing.json")).json()
    assert sorted(first["incident_ids"]) == sorted(second["incident_ids"])
    assert [i["occurrences"] for i in _monitoring_incidents(client)] == [2, 2]


def test_alertmanager_resolved_resolves_those_incidents(client: TestClient) -> None:
    am = _integration(client, "alertmanager")
    fired = _alertmanager(client, am["key"], _fixture("alertmanager_firing.json")).json()
    response = _alertmanager(client, am["key"], _fixture("alertmanager_resolved.json"))
    assert response.status_code == 200, response.text
    assert sorted(response.json()["incident_ids"]) == sorted(fired["incident_ids"])
    incidents = _monitoring_incidents(client)
    assert len(incidents) == 2
    for incident in incidents:
        assert incident["status"] == "resolved"
        assert incident["resolution_code"] == "auto_resolved"
    # resolving again finds nothing open: accepted, nothing touched
    again = _alertmanager(client, am["key"], _fixture("alertmanager_resolved.json"))
    assert again.status_code == 200 and again.json()["incident_ids"] == []


def test_alertmanager_unknown_key_is_a_401_problem(client: TestClient) -> None:
    _integration(client, "alertmanager")
    response = _alertmanager(client, "0" * 32, _fixture("alertmanager_firing.json"))
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 401
    assert _count(client, "incidents") == 0


def _alert_without(field: str) -> dict[str, Any]:
    payload = _fixture("alertmanager_firing.json")
    del payload["alerts"][0][field]
    return payload


@pytest.mark.parametrize(
    "payload",
    [
        {"status": "firing"},
        {"status": "firing", "alerts": "many"},
        {"status": "burning", "alerts": []},
        {"alerts": []},
        [],
        _alert_without("startsAt"),
        _alert_without("status"),
        {**_fixture("alertmanager_firing.json"), "truncatedAlerts": -1},
    ],
    ids=[
        "no-alerts",
        "alerts-not-a-list",
        "bad-status",
        "no-status",
        "array",
        "alert-without-startsAt",
        "alert-without-status",
        "negative-truncated",
    ],
)
def test_malformed_alertmanager_payload_is_a_422_problem(client: TestClient, payload: Any) -> None:
    am = _integration(client, "alertmanager")
    response = _alertmanager(client, am["key"], payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["errors"]
    assert _count(client, "incidents") == 0


def test_alertmanager_non_json_body_is_a_422_problem(client: TestClient) -> None:
    am = _integration(client, "alertmanager")
    request = client.build_request(
        "POST",
        f"/v1/integrations/alertmanager/{am['key']}",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    del request.headers["Authorization"]
    response = client.send(request)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
