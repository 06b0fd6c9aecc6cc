"""Problem records through intake's API on the real PostgreSQL: open, link, read, list and page."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.clock import FixedClock
from tierline_shared.testing import query_value

pytestmark = pytest.mark.integration
PROBLEM_JSON = "application/problem+json"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
INCIDENT = {
    "title": "VPN down",
    "service": "vpn",
    "category": "network",
    "priority": "P2",
    "channel": "web",
    "reporter": "alice@example.com",
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def client(make_client: Callable[..., TestClient], clock: FixedClock) -> TestClient:
    return make_client(clock=clock)


def _problem(client: TestClient, clock: FixedClock, title: str, **fields: Any) -> dict[str, Any]:
    """Open a problem one minute after the previous thing, so creation times are distinct and known."""
    clock.advance(timedelta(minutes=1))
    response = client.post("/v1/problems", json={"title": title, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _incident(client: TestClient, clock: FixedClock, **fields: Any) -> str:
    clock.advance(timedelta(minutes=1))
    response = client.post("/v1/incidents", json={**INCIDENT, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _link(client: TestClient, problem_id: str, *incident_ids: str) -> Any:
    return client.post(f"/v1/problems/{problem_id}/incidents", json={"incident_ids": list(incident_ids)})


def _list(client: TestClient, **params: Any) -> Any:
    return client.get("/v1/problems", params=params)


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _rejected(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert field in [e["field"] for e in body["errors"]], body
    return body


# -- one problem -------------------------------------------------------------------------------


def test_a_problem_shows_its_linked_incidents_oldest_first(client: TestClient, clock: FixedClock) -> None:
    problem = _problem(client, clock, "VPN firmware leaks sessions", root_cause="Firmware 9.2")
    assert problem["incident_ids"] == [] and problem["status"] == "open"
    assert datetime.fromisoformat(problem["created_at"]) == T0 + timedelta(minutes=1)
    first, second, third = (_incident(client, clock) for _ in range(3))
    assert _link(client, problem["id"], third, first).status_code == 200
    linked = _link(client, problem["id"], second, first)  # linking again is harmless
    assert linked.status_code == 200, linked.text
    assert linked.json()["incident_ids"] == [first, second, third]
    shown = client.get(f"/v1/problems/{problem['id']}")
    assert shown.status_code == 200
    assert shown.json() == linked.json()
    incident = client.get(f"/v1/incidents/{first}").json()
    assert incident["problem"]["id"] == problem["id"]
    listed = client.get("/v1/incidents", params={"problem_id": problem["id"]})
    assert _ids(listed) == [third, second, first]


def test_linking_an_unknown_incident_links_none_of_them(client: TestClient, clock: FixedClock) -> None:
    problem = _problem(client, clock, "Mail relay drops attachments")
    known = _incident(client, clock)
    unknown = str(uuid.uuid4())
    body = _rejected(_link(client, problem["id"], known, unknown), "incident_ids")
    assert unknown in body["errors"][0]["reason"]
    assert client.get(f"/v1/problems/{problem['id']}").json()["incident_ids"] == []
    assert client.get(f"/v1/incidents/{known}").json()["problem"] is None
    url = client.database_url  # type: ignore[attr-defined]
    assert query_value(url, "SELECT count(*) FROM timeline WHERE kind = 'problem_linked'") == 0


def test_an_unknown_problem_is_a_404_problem(client: TestClient) -> None:
    for response in (
        client.get(f"/v1/problems/{uuid.uuid4()}"),
        _link(client, str(uuid.uuid4()), str(uuid.uuid4())),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM_JSON


# -- the list ----------------------------------------------------------------------------------


@pytest.fixture
def listed(client: TestClient, clock: FixedClock) -> dict[str, dict[str, Any]]:
    """a: open, linked to two vpn incidents; b: a known error on email; c: resolved, none linked;
    d: a known error linking one vpn and one email incident. Created a, b, c, d, a minute apart."""
    a = _problem(client, clock, "VPN drops", root_cause="MTU")
    b = _problem(client, clock, "Mail queue stuck", known_error=True, workaround="Restart the relay")
    c = _problem(client, clock, "Printer offline")
    d = _problem(client, clock, "SSO timeouts", known_error=True)
    vpn = [_incident(client, clock) for _ in range(3)]
    mail = [_incident(client, clock, service="email") for _ in range(2)]
    for problem, incidents in ((a, vpn[:2]), (b, mail[:1]), (d, [vpn[2], mail[1]])):
        assert _link(client, problem["id"], *incidents).status_code == 200
    clock.advance(timedelta(minutes=1))
    resolved = client.patch(f"/v1/problems/{c['id']}", json={"status": "resolved"})
    assert resolved.status_code == 200, resolved.text
    return {"a": a, "b": b, "c": c, "d": d}


def test_the_list_is_newest_first_with_incident_counts(
    client: TestClient, listed: dict[str, dict[str, Any]]
) -> None:
    response = _list(client)
    assert _ids(response) == [listed[k]["id"] for k in "dcba"]
    assert response.json()["next_cursor"] is None
    items = {item["title"]: item for item in response.json()["items"]}
    assert {title: item["incident_count"] for title, item in items.items()} == {
        "SSO timeouts": 2,
        "Printer offline": 0,
        "Mail queue stuck": 1,
        "VPN drops": 2,
    }
    mail = items["Mail queue stuck"]
    assert (mail["known_error"], mail["workaround"], mail["status"]) == (True, "Restart the relay", "open")
    assert items["Printer offline"]["status"] == "resolved"
    assert "incident_ids" not in mail


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "open"}, "dba"),
        ({"status": "resolved"}, "c"),
        ({"status": ["open", "resolved"]}, "dcba"),
        ({"known_error": "true"}, "db"),
        ({"known_error": "false"}, "ca"),
        ({"service": "vpn"}, "da"),
        ({"service": "email"}, "db"),
        ({"service": "email", "known_error": "false"}, ""),
        ({"service": "printers"}, ""),
        ({"status": "open", "known_error": "false"}, "a"),
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
    assert c_created == T0 + timedelta(minutes=3)
    for value in (
        c_created.isoformat(),
        c_created.astimezone(timezone(timedelta(hours=-5))).isoformat(),
        c_created.isoformat().replace("+00:00", "Z"),
    ):
        assert _ids(_list(client, created_since=value)) == [listed["d"]["id"], listed["c"]["id"]], value
        assert _ids(_list(client, created_until=value)) == [listed["b"]["id"], listed["a"]["id"]], value
    window = _list(client, created_since=listed["b"]["created_at"], created_until=listed["d"]["created_at"])
    assert _ids(window) == [listed["c"]["id"], listed["b"]["id"]]


def test_cursor_pagination_sees_every_problem_once_and_keeps_the_filters(
    client: TestClient, clock: FixedClock
) -> None:
    known = [_problem(client, clock, f"known {i}", known_error=True)["id"] for i in range(7)]
    for i in range(3):
        _problem(client, clock, f"other {i}")
    seen: list[str] = []
    cursor: str | None = None
    for _page in range(3):
        params: dict[str, Any] = {"limit": 3, "known_error": "true", **({"cursor": cursor} if cursor else {})}
        response = _list(client, **params)
        page = _ids(response)
        assert 1 <= len(page) <= 3
        seen.extend(page)
        cursor = response.json()["next_cursor"]
    assert cursor is None
    assert seen == list(reversed(known))


def test_problems_made_in_the_same_instant_are_paged_by_id(client: TestClient, clock: FixedClock) -> None:
    clock.advance(timedelta(minutes=1))
    made = [client.post("/v1/problems", json={"title": f"p{i}"}).json()["id"] for i in range(5)]
    first = _list(client, limit=2)
    second = _list(client, limit=2, cursor=first.json()["next_cursor"])
    third = _list(client, limit=2, cursor=second.json()["next_cursor"])
    assert third.json()["next_cursor"] is None
    assert _ids(first) + _ids(second) + _ids(third) == sorted(made, reverse=True)


def test_the_default_page_is_50(client: TestClient, clock: FixedClock) -> None:
    for i in range(51):
        _problem(client, clock, f"problem {i}")
    first = _list(client)
    assert len(_ids(first)) == 50 and first.json()["next_cursor"] is not None
    last = _list(client, cursor=first.json()["next_cursor"])
    assert [item["title"] for item in last.json()["items"]] == ["problem 0"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": ["open", "sleeping"]}, "status"),
        ({"known_error": "maybe"}, "known_error"),
        ({"created_since": "2026-01-01T09:00:00"}, "created_since"),
        ({"created_until": "yesterday"}, "created_until"),
        ({"created_since": "0001-01-01T00:00:00+05:00"}, "created_since"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"service": "x" * 121}, "service"),
        ({"service": "vpn\x00"}, "service"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": _b64(b'["2026-11-23T09:00:00", "5f0c5d2e-0000-4000-8000-000000000000"]')}, "cursor"),
        (
            {"cursor": _b64(b'["0001-01-01T00:00:00+05:00", "5f0c5d2e-0000-4000-8000-000000000000"]')},
            "cursor",
        ),
        ({"cursor": _b64(b'["2026-11-23T09:00:00+00:00", "not-a-uuid"]')}, "cursor"),
    ],
)
def test_list_rejects_bad_parameters_with_a_422(
    client: TestClient, clock: FixedClock, params: dict[str, Any], field: str
) -> None:
    _problem(client, clock, "there is something to list")
    _rejected(_list(client, **params), field)


def test_a_read_key_lists_and_reads_problems_but_cannot_change_them(
    client: TestClient, clock: FixedClock
) -> None:
    problem = _problem(client, clock, "VPN drops")
    issued = client.post("/v1/api-keys", json={"name": "console", "scopes": ["incidents:read"]})
    reader = {"Authorization": f"Bearer {issued.json()['key']}"}
    assert _ids(client.get("/v1/problems", headers=reader)) == [problem["id"]]
    assert client.get(f"/v1/problems/{problem['id']}", headers=reader).status_code == 200
    incident = _incident(client, clock)
    for response in (
        client.post(
            f"/v1/problems/{problem['id']}/incidents", json={"incident_ids": [incident]}, headers=reader
        ),
        client.patch(f"/v1/problems/{problem['id']}", json={"known_error": True}, headers=reader),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["required_scope"] == "incidents:write"
    unchanged = client.get(f"/v1/problems/{problem['id']}").json()
    assert (unchanged["incident_ids"], unchanged["known_error"]) == ([], False)
    anonymous = client.get("/v1/problems", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM_JSON
