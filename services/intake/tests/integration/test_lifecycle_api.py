"""Intake's lifecycle API on the real PostgreSQL and Kafka: every action, its failures and its events."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.events import topics
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
HOLD_REASONS = ("awaiting_customer", "awaiting_vendor", "awaiting_change")
NETWORK_KNOWLEDGE = [
    {"title": "VPN troubleshooting runbook", "url": "https://kb.example.com/runbooks/vpn"},
    {"title": "Network escalation contacts", "url": "https://kb.example.com/network/contacts"},
]

MakeClient = Callable[..., TestClient]


# -- helpers ---------------------------------------------------------------------------------


def _create(client: TestClient, **overrides: Any) -> dict[str, Any]:
    payload = {k: v for k, v in {**VALID, **overrides}.items() if v is not None}
    response = client.post("/v1/incidents", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def _act(client: TestClient, incident_id: str, action: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        return client.post(f"/v1/incidents/{incident_id}/{action}")
    return client.post(f"/v1/incidents/{incident_id}/{action}", json=body)


def _ok(client: TestClient, incident_id: str, action: str, body: dict[str, Any] | None = None) -> dict:
    response = _act(client, incident_id, action, body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _conflict(response: Any) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return response.json()


def _kinds(incident: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in incident["timeline"]]


def _count(client: TestClient, sql: str) -> int:
    return query_value(client.database_url, sql)  # type: ignore[attr-defined]


def _list(client: TestClient, **params: Any) -> Any:
    return client.get("/v1/incidents", params=params)


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# -- acknowledge -----------------------------------------------------------------------------


def test_acknowledge_records_who_and_when(client: TestClient) -> None:
    incident = _create(client)
    acked = _ok(client, incident["id"], "acknowledge", {"by": "bob"})
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_at"] is not None
    assert _kinds(acked) == ["created", "acknowledged"]
    assert "bob" in acked["timeline"][-1]["summary"]


def test_acknowledge_without_body_is_accepted(client: TestClient) -> None:
    incident = _create(client)
    assert _ok(client, incident["id"], "acknowledge")["status"] == "acknowledged"


def test_acknowledge_twice_or_after_resolve_is_a_409(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "acknowledge")
    problem = _conflict(_act(client, incident["id"], "acknowledge"))
    assert problem["current_status"] == "acknowledged"
    other = _create(client, title="Other")
    _ok(client, other["id"], "resolve")
    assert _conflict(_act(client, other["id"], "acknowledge"))["current_status"] == "resolved"


def test_acknowledge_rejects_unknown_fields(client: TestClient) -> None:
    incident = _create(client)
    response = _act(client, incident["id"], "acknowledge", {"who": "bob"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON


# -- resolve ---------------------------------------------------------------------------------


def test_resolve_records_code_note_and_knowledge_article(client: TestClient) -> None:
    incident = _create(client)
    article = "https://kb.example.com/runbooks/vpn"
    resolved = _ok(
        client,
        incident["id"],
        "resolve",
        {
            "by": "carol",
            "resolution_code": "fixed",
            "note": "restarted the gateway",
            "knowledge_article": article,
        },
    )
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert resolved["resolution_code"] == "fixed"
    assert resolved["knowledge_article_used"] == article
    entry = resolved["timeline"][-1]
    assert entry["kind"] == "resolved"
    assert entry["data"]["note"] == "restarted the gateway"
    assert entry["data"]["knowledge_article"] == article
    fetched = client.get(f"/v1/incidents/{incident['id']}").json()
    assert fetched["knowledge_article_used"] == article and fetched["resolution_code"] == "fixed"


def test_resolve_straight_from_open_and_without_body(client: TestClient) -> None:
    incident = _create(client)
    resolved = _ok(client, incident["id"], "resolve")
    assert resolved["status"] == "resolved"
    assert resolved["resolution_code"] is None and resolved["knowledge_article_used"] is None


def test_resolve_of_resolved_or_closed_is_a_409(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "resolve")
    _conflict(_act(client, incident["id"], "resolve"))
    _ok(client, incident["id"], "close")
    assert _conflict(_act(client, incident["id"], "resolve"))["current_status"] == "closed"


@pytest.mark.parametrize(
    "body",
    [{"resolution_code": ""}, {"knowledge_article": ""}, {"by": ""}, {"unexpected": "x"}],
)
def test_resolve_validates_its_body(client: TestClient, body: dict[str, Any]) -> None:
    incident = _create(client)
    response = _act(client, incident["id"], "resolve", body)
    assert response.status_code == 422, response.text
    assert client.get(f"/v1/incidents/{incident['id']}").json()["status"] == "open"


# -- hold and resume -------------------------------------------------------------------------


@pytest.mark.parametrize("reason", HOLD_REASONS)
def test_hold_for_each_reason_then_resume_returns_to_open(client: TestClient, reason: str) -> None:
    incident = _create(client)
    held = _ok(client, incident["id"], "hold", {"reason": reason, "note": "waiting", "by": "dave"})
    assert held["status"] == "on_hold" and held["hold_reason"] == reason
    assert held["timeline"][-1]["kind"] == "on_hold"
    assert held["timeline"][-1]["data"] == {"reason": reason, "note": "waiting", "by": "dave"}
    resumed = _ok(client, incident["id"], "resume", {"by": "dave"})
    assert resumed["status"] == "open" and resumed["hold_reason"] is None
    assert _kinds(resumed) == ["created", "on_hold", "resumed"]


def test_resume_returns_an_acknowledged_incident_to_acknowledged(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "acknowledge")
    held = _ok(client, incident["id"], "hold", {"reason": "awaiting_vendor"})
    assert held["status"] == "on_hold"
    resumed = _ok(client, incident["id"], "resume")
    assert resumed["status"] == "acknowledged" and resumed["hold_reason"] is None


def test_hold_needs_a_known_reason(client: TestClient) -> None:
    incident = _create(client)
    for body in ({}, {"reason": "lunch"}, None):
        response = _act(client, incident["id"], "hold", body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
    assert client.get(f"/v1/incidents/{incident['id']}").json()["status"] == "open"


def test_hold_while_on_hold_or_resolved_is_a_409(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "hold", {"reason": "awaiting_customer"})
    assert (
        _conflict(_act(client, incident["id"], "hold", {"reason": "awaiting_vendor"}))["current_status"]
        == "on_hold"
    )
    assert client.get(f"/v1/incidents/{incident['id']}").json()["hold_reason"] == "awaiting_customer"
    _ok(client, incident["id"], "resolve")
    _conflict(_act(client, incident["id"], "hold", {"reason": "awaiting_vendor"}))


def test_resolve_while_on_hold_clears_the_hold(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "hold", {"reason": "awaiting_change"})
    resolved = _ok(client, incident["id"], "resolve", {"resolution_code": "change_done"})
    assert resolved["status"] == "resolved" and resolved["hold_reason"] is None


def test_resume_of_a_resolved_or_closed_incident_is_a_409(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "resolve")
    _conflict(_act(client, incident["id"], "resume"))
    _ok(client, incident["id"], "close")
    _conflict(_act(client, incident["id"], "resume"))


@pytest.mark.parametrize("acknowledged", [False, True])
def test_resume_of_an_incident_not_on_hold_is_a_409(client: TestClient, acknowledged: bool) -> None:
    incident = _create(client)
    if acknowledged:
        _ok(client, incident["id"], "acknowledge")
    _conflict(_act(client, incident["id"], "resume"))


def test_acknowledge_of_an_on_hold_incident_leaves_no_stale_hold(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "hold", {"reason": "awaiting_customer"})
    response = _act(client, incident["id"], "acknowledge")
    if response.status_code != 409:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "acknowledged"
        assert body["hold_reason"] is None


# -- reopen ----------------------------------------------------------------------------------


def test_reopen_within_the_window(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "acknowledge")
    _ok(client, incident["id"], "resolve", {"resolution_code": "fixed", "note": "n"})
    reopened = _ok(client, incident["id"], "reopen", {"reason": "came back", "by": "alice"})
    assert reopened["status"] == "open"
    assert reopened["reopen_count"] == 1
    assert reopened["resolved_at"] is None and reopened["resolution_code"] is None
    assert reopened["acknowledged_at"] is None
    assert _kinds(reopened) == ["created", "acknowledged", "resolved", "reopened"]
    assert reopened["timeline"][-1]["data"] == {"reason": "came back", "by": "alice"}
    # It is a live incident again: it can be acknowledged, resolved and reopened once more.
    _ok(client, incident["id"], "acknowledge")
    _ok(client, incident["id"], "resolve")
    assert _ok(client, incident["id"], "reopen")["reopen_count"] == 2


def test_reopen_of_an_open_or_closed_incident_is_a_409(client: TestClient) -> None:
    incident = _create(client)
    _conflict(_act(client, incident["id"], "reopen"))
    _ok(client, incident["id"], "resolve")
    _ok(client, incident["id"], "close")
    assert _conflict(_act(client, incident["id"], "reopen"))["current_status"] == "closed"


async def test_reopen_after_the_window_is_a_409(make_client: MakeClient) -> None:
    client = make_client(reopen_window_seconds=0.001)
    incident = _create(client)
    resolved = _ok(client, incident["id"], "resolve")
    resolved_at = datetime.fromisoformat(resolved["resolved_at"])
    await eventually(lambda: datetime.now(UTC) - resolved_at > timedelta(seconds=0.01), what="window passed")
    problem = _conflict(_act(client, incident["id"], "reopen"))
    assert problem["reopen_window_seconds"] == pytest.approx(0.001)
    assert problem["requested_status"] == "open"
    after = client.get(f"/v1/incidents/{incident['id']}").json()
    assert after["status"] == "resolved" and after["reopen_count"] == 0


def test_reopen_when_a_newer_incident_holds_the_dedup_key_is_a_409(client: TestClient) -> None:
    old = _create(client, dedup_key="disk-full-db1")
    _ok(client, old["id"], "resolve")
    newer = _create(client, dedup_key="disk-full-db1")
    assert newer["id"] != old["id"]
    _conflict(_act(client, old["id"], "reopen"))
    assert client.get(f"/v1/incidents/{old['id']}").json()["status"] == "resolved"


# -- close -----------------------------------------------------------------------------------


def test_close_only_after_resolve(client: TestClient) -> None:
    incident = _create(client)
    assert _conflict(_act(client, incident["id"], "close"))["current_status"] == "open"
    _ok(client, incident["id"], "acknowledge")
    _conflict(_act(client, incident["id"], "close"))
    _ok(client, incident["id"], "hold", {"reason": "awaiting_customer"})
    _conflict(_act(client, incident["id"], "close"))
    _ok(client, incident["id"], "resolve")
    closed = _ok(client, incident["id"], "close", {"by": "erin"})
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    assert closed["timeline"][-1]["kind"] == "closed"


def test_closed_is_terminal(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "resolve")
    _ok(client, incident["id"], "close")
    for action, body in (
        ("close", None),
        ("acknowledge", None),
        ("resolve", None),
        ("reopen", None),
        ("resume", None),
        ("hold", {"reason": "awaiting_customer"}),
    ):
        assert _act(client, incident["id"], action, body).status_code == 409, action
    assert client.patch(f"/v1/incidents/{incident['id']}", json={"title": "x"}).status_code == 409
    assert client.get(f"/v1/incidents/{incident['id']}").json()["status"] == "closed"


# -- notes -----------------------------------------------------------------------------------


def test_note_is_201_and_appears_on_the_timeline(client: TestClient) -> None:
    incident = _create(client)
    response = _act(client, incident["id"], "notes", {"text": "Called the ISP", "author": "frank"})
    assert response.status_code == 201, response.text
    entry = response.json()["timeline"][-1]
    assert entry["kind"] == "note"
    assert entry["data"] == {"text": "Called the ISP", "author": "frank"}
    assert "Called the ISP" in entry["summary"]
    timeline = client.get(f"/v1/incidents/{incident['id']}/timeline").json()
    assert [e["kind"] for e in timeline] == ["created", "note"]


def test_note_needs_text(client: TestClient) -> None:
    incident = _create(client)
    for body in ({}, {"text": ""}, {"text": "x", "colour": "red"}):
        assert _act(client, incident["id"], "notes", body).status_code == 422
    assert _kinds(client.get(f"/v1/incidents/{incident['id']}").json()) == ["created"]


# -- csat ------------------------------------------------------------------------------------


def test_csat_only_after_resolution_and_only_once(client: TestClient) -> None:
    incident = _create(client)
    assert _conflict(_act(client, incident["id"], "csat", {"score": 5}))["current_status"] == "open"
    _ok(client, incident["id"], "resolve")
    response = _act(client, incident["id"], "csat", {"score": 4, "comment": "quick"})
    assert response.status_code == 201, response.text
    assert response.json()["csat_score"] == 4
    assert response.json()["timeline"][-1]["kind"] == "csat"
    _conflict(_act(client, incident["id"], "csat", {"score": 1}))
    assert client.get(f"/v1/incidents/{incident['id']}").json()["csat_score"] == 4


def test_csat_after_close(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "resolve")
    _ok(client, incident["id"], "close")
    assert _act(client, incident["id"], "csat", {"score": 1}).status_code == 201


@pytest.mark.parametrize("score", [0, 6, -1, "five", None])
def test_csat_score_outside_1_to_5_is_a_422(client: TestClient, score: Any) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "resolve")
    response = _act(client, incident["id"], "csat", {"score": score})
    assert response.status_code == 422, response.text
    assert "score" in [e["field"] for e in response.json()["errors"]]
    assert client.get(f"/v1/incidents/{incident['id']}").json()["csat_score"] is None


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
def test_csat_accepts_each_score(client: TestClient, score: int) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "resolve")
    assert _ok(client, incident["id"], "csat", {"score": score})["csat_score"] == score


# -- PATCH -----------------------------------------------------------------------------------


def test_patch_explicit_priority_makes_it_explicit_and_sticky(client: TestClient) -> None:
    incident = _create(client)
    assert (incident["priority"], incident["priority_source"]) == ("P2", "matrix")
    patched = client.patch(f"/v1/incidents/{incident['id']}", json={"priority": "P1", "by": "gina"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["priority"], body["priority_source"]) == ("P1", "explicit")
    entry = body["timeline"][-1]
    assert entry["kind"] == "updated"
    assert entry["data"]["priority"] == {"old": "P2", "new": "P1"}
    # A person set it: changing impact and urgency no longer moves the priority.
    body = client.patch(f"/v1/incidents/{incident['id']}", json={"impact": "low", "urgency": "low"}).json()
    assert (body["priority"], body["priority_source"]) == ("P1", "explicit")
    assert (body["impact"], body["urgency"]) == ("low", "low")


def test_patch_impact_or_urgency_rederives_a_matrix_priority(client: TestClient) -> None:
    incident = _create(client)  # high x medium = P2
    body = client.patch(f"/v1/incidents/{incident['id']}", json={"urgency": "high"}).json()
    assert (body["priority"], body["priority_source"], body["urgency"]) == ("P1", "matrix", "high")
    data = body["timeline"][-1]["data"]
    assert data == {"urgency": {"old": "medium", "new": "high"}, "priority": {"old": "P2", "new": "P1"}}
    body = client.patch(f"/v1/incidents/{incident['id']}", json={"impact": "low", "urgency": "low"}).json()
    assert (body["priority"], body["priority_source"]) == ("P4", "matrix")


def test_patch_other_fields(client: TestClient) -> None:
    incident = _create(client)
    body = client.patch(
        f"/v1/incidents/{incident['id']}",
        json={
            "title": "VPN down everywhere",
            "service": "vpn-eu",
            "category": "hardware",
            "description": "d",
        },
    ).json()
    assert (body["title"], body["service"], body["category"], body["description"]) == (
        "VPN down everywhere",
        "vpn-eu",
        "hardware",
        "d",
    )
    assert body["priority"] == "P2"
    assert set(body["timeline"][-1]["data"]) == {"title", "service", "category", "description"}


def test_patch_of_an_on_hold_incident_is_allowed(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "hold", {"reason": "awaiting_customer"})
    response = client.patch(f"/v1/incidents/{incident['id']}", json={"title": "Still down"})
    assert response.status_code == 200 and response.json()["status"] == "on_hold"


async def test_noop_patch_returns_unchanged_and_publishes_nothing(infra, client: TestClient) -> None:
    incident = _create(client)
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        noop = client.patch(
            f"/v1/incidents/{incident['id']}",
            json={"title": VALID["title"], "impact": "high", "urgency": "medium", "by": "x"},
        )
        assert noop.status_code == 200, noop.text
        body = noop.json()
        for field in ("title", "impact", "urgency", "priority", "priority_source", "updated_at"):
            assert body[field] == incident[field], field
        assert _kinds(body) == ["created"]
        updates = "SELECT count(*) FROM outbox WHERE event_type = 'tierline.incident.updated.v1'"
        assert await asyncio.to_thread(_count, client, updates) == 0
        # A real change afterwards is a barrier: once it arrives, an earlier event would have too.
        client.patch(f"/v1/incidents/{incident['id']}", json={"title": "Changed"})
        updated = await eventually(
            lambda: reader.of_type("tierline.incident.updated.v1", incident["id"]), what="updated event"
        )
    assert len(updated) == 1
    assert updated[0].data.changes["title"].new == "Changed"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"by": "someone"},
        {"title": None},
        {"priority": None},
        {"impact": None},
        {"title": ""},
        {"priority": "P0"},
        {"status": "closed"},
        {"service": "has spaces"},
    ],
)
def test_invalid_patch_is_a_422_and_changes_nothing(client: TestClient, body: dict[str, Any]) -> None:
    incident = _create(client)
    response = client.patch(f"/v1/incidents/{incident['id']}", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    after = client.get(f"/v1/incidents/{incident['id']}").json()
    assert after["updated_at"] == incident["updated_at"] and _kinds(after) == ["created"]


def test_patch_of_a_resolved_incident_is_a_409(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "resolve")
    problem = _conflict(client.patch(f"/v1/incidents/{incident['id']}", json={"priority": "P1"}))
    assert problem["current_status"] == "resolved"
    assert client.get(f"/v1/incidents/{incident['id']}").json()["priority"] == "P2"


# -- list ------------------------------------------------------------------------------------


@pytest.fixture
def listed(client: TestClient) -> dict[str, dict[str, Any]]:
    """Four incidents, oldest first: a (open P2), b (open P4), c (acknowledged P1), d (resolved P3)."""
    a = _create(client)
    b = _create(
        client,
        title="Mail queue stuck",
        service="email",
        category="email",
        channel="email",
        impact=None,
        urgency=None,
        priority="P4",
    )
    c = _create(client, title="Laptop dead", category="hardware", channel="phone", urgency="high")
    _ok(client, c["id"], "acknowledge")
    d = _create(
        client,
        title="No access",
        service="crm",
        category="access",
        channel="chat",
        impact="medium",
        urgency="medium",
    )
    _ok(client, d["id"], "resolve")
    return {"a": a, "b": b, "c": c, "d": d}


def test_list_is_newest_first(client: TestClient, listed: dict[str, dict[str, Any]]) -> None:
    response = _list(client)
    assert _ids(response) == [listed[k]["id"] for k in "dcba"]
    assert response.json()["next_cursor"] is None
    summary = response.json()["items"][1]
    assert summary["status"] == "acknowledged" and summary["priority"] == "P1"
    assert summary["tier"] is None and summary["occurrences"] == 1


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, "ba"),
        ({"status": ["acknowledged", "resolved"]}, "dc"),
        ({"status": "closed"}, ""),
        ({"priority": "P1"}, "c"),
        ({"priority": ["P2", "P4"]}, "ba"),
        ({"service": "vpn"}, "ca"),
        ({"category": "email"}, "b"),
        ({"channel": "phone"}, "c"),
        ({"service": "vpn", "status": "open"}, "a"),
        ({"service": "nothing-here"}, ""),
    ],
)
def test_list_filters(
    client: TestClient, listed: dict[str, dict[str, Any]], params: dict[str, Any], expected: str
) -> None:
    assert _ids(_list(client, **params)) == [listed[k]["id"] for k in expected]


def test_list_filters_by_creation_time_with_any_offset(
    client: TestClient, listed: dict[str, dict[str, Any]]
) -> None:
    c_created = datetime.fromisoformat(listed["c"]["created_at"])
    in_utc = c_created.astimezone(UTC).isoformat()
    in_plus_two = c_created.astimezone(timezone(timedelta(hours=2))).isoformat()
    as_z = c_created.astimezone(UTC).isoformat().replace("+00:00", "Z")
    for value in (in_utc, in_plus_two, as_z):
        assert _ids(_list(client, created_since=value)) == [listed["d"]["id"], listed["c"]["id"]], value
        assert _ids(_list(client, created_until=value)) == [listed["b"]["id"], listed["a"]["id"]], value
    b_created = datetime.fromisoformat(listed["b"]["created_at"])
    window = _list(client, created_since=b_created.isoformat(), created_until=in_plus_two)
    assert _ids(window) == [listed["b"]["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"created_since": "2026-01-01T09:00:00"},
        {"created_until": "2026-01-01T09:00:00"},
        {"created_since": "yesterday"},
        {"status": "sleeping"},
        {"priority": "P5"},
        {"tier": "L9"},
        {"problem_id": "not-a-uuid"},
        {"limit": 0},
        {"limit": 201},
    ],
)
def test_list_rejects_bad_parameters_with_a_422(client: TestClient, params: dict[str, Any]) -> None:
    response = _list(client, **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert next(iter(params)) in [e["field"] for e in response.json()["errors"]]


def test_cursor_pagination_sees_every_incident_once_newest_first(client: TestClient) -> None:
    created = [_create(client, title=f"Incident {i}")["id"] for i in range(7)]
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = _list(client, **params)
        page = _ids(response)
        assert len(page) <= 3
        seen.extend(page)
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3
    assert seen == list(reversed(created))


def test_cursor_pagination_keeps_the_filters(client: TestClient) -> None:
    vpn = [_create(client, title=f"vpn {i}")["id"] for i in range(4)]
    for i in range(3):
        _create(client, title=f"mail {i}", service="email")
    first = _list(client, service="vpn", limit=2)
    second = _list(client, service="vpn", limit=2, cursor=first.json()["next_cursor"])
    assert _ids(first) + _ids(second) == list(reversed(vpn))
    assert second.json()["next_cursor"] is None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        "ä",
        _b64(b"[1, 2]"),
        _b64(b'"x"'),
        _b64(b"{}"),
        _b64(b'["not a date", "also not a uuid"]'),
        _b64(b'["2026-01-01T00:00:00+00:00", "not-a-uuid"]'),
        _b64(b"[null, null]"),
        _b64(b'[["2026"], "x"]'),
        _b64(b"\xff\xfe"),
        _b64(b'["2026-01-01T00:00:00", "5f0c5d2e-0000-4000-8000-000000000000"]'),  # no offset
        _b64(b'["0001-01-01T00:00:00+05:00", "5f0c5d2e-0000-4000-8000-000000000000"]'),  # before UTC's year 1
    ],
)
def test_garbage_cursor_is_a_422(client: TestClient, cursor: str) -> None:
    _create(client)
    response = _list(client, cursor=cursor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]


# -- timeline, dedup, knowledge --------------------------------------------------------------


def test_timeline_lists_what_happened_in_order(client: TestClient) -> None:
    incident = _create(client)
    _ok(client, incident["id"], "acknowledge")
    _ok(client, incident["id"], "notes", {"text": "looking"})
    _ok(client, incident["id"], "hold", {"reason": "awaiting_vendor"})
    _ok(client, incident["id"], "resume")
    client.patch(f"/v1/incidents/{incident['id']}", json={"priority": "P1"})
    _ok(client, incident["id"], "resolve")
    _ok(client, incident["id"], "close")
    response = client.get(f"/v1/incidents/{incident['id']}/timeline")
    assert response.status_code == 200
    timeline = response.json()
    assert [e["kind"] for e in timeline] == [
        "created",
        "acknowledged",
        "note",
        "on_hold",
        "resumed",
        "updated",
        "resolved",
        "closed",
    ]
    stamps = [datetime.fromisoformat(e["at"]) for e in timeline]
    assert stamps == sorted(stamps)
    assert all(e["source"] == "intake" for e in timeline)
    assert timeline == client.get(f"/v1/incidents/{incident['id']}").json()["timeline"]


def test_same_dedup_key_while_open_counts_an_occurrence(client: TestClient) -> None:
    first = client.post("/v1/incidents", json={**VALID, "dedup_key": "vpn-gw-1"})
    assert first.status_code == 201
    incident_id = first.json()["id"]
    _ok(client, incident_id, "acknowledge")
    second = client.post("/v1/incidents", json={**VALID, "title": "VPN again", "dedup_key": "vpn-gw-1"})
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["id"] == incident_id and body["occurrences"] == 2
    assert body["title"] == VALID["title"] and body["status"] == "acknowledged"
    assert _kinds(body) == ["created", "acknowledged", "occurrence"]
    assert body["timeline"][-1]["data"] == {"occurrences": 2, "title": "VPN again"}
    third = client.post("/v1/incidents", json={**VALID, "dedup_key": "vpn-gw-1"})
    assert third.status_code == 200 and third.json()["occurrences"] == 3
    assert _count(client, "SELECT count(*) FROM incidents") == 1
    assert _count(client, "SELECT count(*) FROM outbox WHERE event_type LIKE '%.created.v1'") == 1


def test_same_dedup_key_while_on_hold_counts_an_occurrence(client: TestClient) -> None:
    first = _create(client, dedup_key="k")
    _ok(client, first["id"], "hold", {"reason": "awaiting_vendor"})
    again = client.post("/v1/incidents", json={**VALID, "dedup_key": "k"})
    assert (again.status_code, again.json()["id"]) == (200, first["id"])


def test_same_dedup_key_after_resolve_opens_a_new_incident(client: TestClient) -> None:
    first = _create(client, dedup_key="vpn-gw-1")
    _ok(client, first["id"], "resolve")
    second = client.post("/v1/incidents", json={**VALID, "dedup_key": "vpn-gw-1"})
    assert second.status_code == 201
    assert second.json()["id"] != first["id"] and second.json()["occurrences"] == 1
    assert client.get(f"/v1/incidents/{first['id']}").json()["occurrences"] == 1


def test_knowledge_links_are_attached_by_category(client: TestClient) -> None:
    network = _create(client)
    assert network["knowledge"] == NETWORK_KNOWLEDGE
    assert client.get(f"/v1/incidents/{network['id']}").json()["knowledge"] == NETWORK_KNOWLEDGE
    other = _create(client, category="printing")
    assert other["knowledge"] == []
    assert other["knowledge_article_used"] is None


# -- 404 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/timeline", None),
        ("PATCH", "", {"title": "x"}),
        ("POST", "/acknowledge", None),
        ("POST", "/resolve", {"resolution_code": "fixed"}),
        ("POST", "/hold", {"reason": "awaiting_customer"}),
        ("POST", "/resume", None),
        ("POST", "/reopen", None),
        ("POST", "/close", None),
        ("POST", "/notes", {"text": "hello"}),
        ("POST", "/csat", {"score": 3}),
    ],
)
def test_unknown_incident_is_a_404_for_every_action(
    client: TestClient, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    url = f"/v1/incidents/{uuid.uuid4()}{suffix}"
    response = client.request(method, url, json=body) if body is not None else client.request(method, url)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 404
    assert _count(client, "SELECT count(*) FROM outbox") == 0


# -- events ----------------------------------------------------------------------------------


async def test_updated_event_carries_old_and_new_values(infra, client: TestClient) -> None:
    incident = _create(client)
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        client.patch(f"/v1/incidents/{incident['id']}", json={"urgency": "high", "by": "gina"})
        found = await eventually(
            lambda: reader.of_type("tierline.incident.updated.v1", incident["id"]), what="updated event"
        )
    event = found[0].data
    assert {k: (v.old, v.new) for k, v in event.changes.items()} == {
        "urgency": ("medium", "high"),
        "priority": ("P2", "P1"),
    }
    assert (event.priority, event.service, event.category, event.by) == ("P1", "vpn", "network", "gina")


async def test_lifecycle_events_are_published_in_order(infra, client: TestClient) -> None:
    incident = _create(client)
    iid = incident["id"]
    async with TopicReader(infra.bootstrap_servers, [topics.INCIDENTS]) as reader:
        _ok(client, iid, "acknowledge")
        _ok(client, iid, "hold", {"reason": "awaiting_vendor", "note": "case 42", "by": "hal"})
        _ok(client, iid, "resume", {"by": "hal"})
        _ok(client, iid, "resolve", {"resolution_code": "fixed"})
        _ok(client, iid, "reopen", {"reason": "flapping", "by": "ivy"})
        _ok(client, iid, "resolve")
        _ok(client, iid, "close", {"by": "ivy"})

        def mine() -> list[str]:
            return [e.type for e in reader.envelopes(topics.INCIDENTS) if e.subject == iid]

        await eventually(lambda: "tierline.incident.closed.v1" in mine(), what="closed event")
    short = [t.removeprefix("tierline.incident.").removesuffix(".v1") for t in mine()]
    assert short == [
        "created",
        "acknowledged",
        "put_on_hold",
        "resumed",
        "resolved",
        "reopened",
        "resolved",
        "closed",
    ]
    (held,) = reader.of_type("tierline.incident.put_on_hold.v1", iid)
    assert (held.data.reason, held.data.note, held.data.by) == ("awaiting_vendor", "case 42", "hal")
    (resumed,) = reader.of_type("tierline.incident.resumed.v1", iid)
    assert (resumed.data.status, resumed.data.by) == ("acknowledged", "hal")
    (reopened,) = reader.of_type("tierline.incident.reopened.v1", iid)
    assert (reopened.data.reason, reopened.data.priority, reopened.data.by) == ("flapping", "P2", "ivy")
    (closed,) = reader.of_type("tierline.incident.closed.v1", iid)
    assert closed.data.by == "ivy"
