"""The SLA monitor's HTTP API on the real app, PostgreSQL and Kafka: clocks, compliance, the contract.

Each test starts its own monitor (see conftest: fresh database, own topic prefix, policy file in
tmp_path) whose clock stands still on Monday 2026-11-23 20:00 in Berlin, three hours after the office
closed, so the business time it reports is exact. Clocks are put in by calling the use cases on the
app's own runtime, one unit of work each, as the consumer does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tierline_sla_monitor.service_layer import clocks

pytestmark = pytest.mark.integration
BERLIN = ZoneInfo("Europe/Berlin")
PROBLEM_JSON = "application/problem+json"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 answer with this status (and type), and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    if slug is not None:
        assert body["type"] == f"https://tierline.dev/problems/{slug}", body
    return body


def error_fields(body: dict[str, Any]) -> list[str]:
    return [e["field"] for e in body["errors"]]


def instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def berlin(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=BERLIN).astimezone(UTC)


async def clocks_of(monitor, incident_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    response = await monitor.http.get("/v1/sla/clocks", params={"incident_id": str(incident_id)})
    return {c["kind"]: c for c in ok(response)}


# --- clocks -------------------------------------------------------------------------------------------


async def test_clocks_show_state_due_and_business_time_of_running_paused_and_stopped_clocks(monitor) -> None:
    assert monitor.now == berlin("2026-11-23 20:00")
    held = await monitor.create("P3", berlin("2026-11-23 09:00"))
    await monitor.run(clocks.stop_response_clock, held, berlin("2026-11-23 10:00"))
    await monitor.run(clocks.pause_for_hold, held, "awaiting_customer", berlin("2026-11-23 11:00"))
    running = await monitor.create("P3", berlin("2026-11-23 15:00"))

    shown = await clocks_of(monitor, held)
    assert list(shown) == ["resolution", "response"]  # by start, then kind
    stopped, paused = shown["response"], shown["resolution"]
    assert (stopped["state"], instant(stopped["due_at"]), instant(stopped["stopped_at"])) == (
        "met",
        berlin("2026-11-23 13:00"),
        berlin("2026-11-23 10:00"),
    )
    assert (stopped["elapsed_seconds"], stopped["remaining_seconds"], stopped["target_seconds"]) == (
        3600.0,
        10800.0,
        14400.0,
    )
    assert (paused["state"], paused["due_at"], paused["stopped_at"]) == ("paused", None, None)
    # 09:00-11:00 counted, then on hold: 14 of 16 h left however late it is read
    assert (paused["elapsed_seconds"], paused["remaining_seconds"]) == (7200.0, 50400.0)
    assert {c["incident_id"] for c in shown.values()} == {str(held)}
    assert {
        (c["policy"], c["calendar"], c["tier"], c["vendor"], c["warnings_sent"]) for c in shown.values()
    } == {("p3", "office", None, None, 0)}

    # created 15:00, read at 20:00: five hours passed, two of them office hours
    shown = await clocks_of(monitor, running)
    response, resolution = shown["response"], shown["resolution"]
    assert (response["state"], instant(response["due_at"])) == ("running", berlin("2026-11-24 11:00"))
    assert (response["elapsed_seconds"], response["remaining_seconds"]) == (7200.0, 7200.0)
    assert (resolution["state"], instant(resolution["due_at"])) == ("running", berlin("2026-11-25 15:00"))
    assert (resolution["elapsed_seconds"], resolution["remaining_seconds"]) == (7200.0, 50400.0)
    assert instant(resolution["started_at"]) == berlin("2026-11-23 15:00")


async def test_clocks_need_an_incident_id_and_a_key(monitor) -> None:
    assert ok(await monitor.http.get("/v1/sla/clocks", params={"incident_id": str(uuid.uuid4())})) == []
    assert error_fields(problem(await monitor.http.get("/v1/sla/clocks"), 422, "validation-error")) == [
        "incident_id"
    ]
    bad = problem(await monitor.http.get("/v1/sla/clocks", params={"incident_id": "nope"}), 422)
    assert error_fields(bad) == ["incident_id"]
    problem(await monitor.anonymous.get("/v1/sla/clocks", params={"incident_id": str(uuid.uuid4())}), 401)


# --- compliance and the contract ----------------------------------------------------------------------


async def test_compliance_reports_the_window_by_group(monitor) -> None:
    incident = await monitor.create("P1", monitor.now - timedelta(hours=1))
    await monitor.run(clocks.stop_response_clock, incident, monitor.now - timedelta(minutes=50))
    await monitor.create("P2", monitor.now - timedelta(days=2))  # before the window
    window = {"from": (monitor.now - timedelta(days=1)).isoformat(), "to": monitor.now.isoformat()}

    report = ok(await monitor.http.get("/v1/sla/compliance", params={**window, "group_by": "priority"}))
    assert [g["group"] for g in report] == ["P1"]
    assert report[0]["clocks"]["response"] == {
        "total": 1,
        "met": 1,
        "breached": 0,
        "open": 0,
        "cancelled": 0,
        "met_percent": 100.0,
        "mean_seconds": 600.0,
        "p90_seconds": 600.0,
    }
    assert report[0]["clocks"]["resolution"]["open"] == 1
    assert report[0]["clocks"]["resolution"]["met_percent"] is None
    by_service = ok(await monitor.http.get("/v1/sla/compliance", params={**window, "group_by": "service"}))
    assert [g["group"] for g in by_service] == ["mail"]
    assert ok(await monitor.http.get("/v1/sla/compliance", params=window)) == report  # priority by default
    assert ok(await monitor.http.get("/v1/sla/compliance", params={**window, "group_by": "vendor"})) == []


async def test_compliance_refuses_an_empty_window_or_unknown_grouping(monitor) -> None:
    start = monitor.now - timedelta(days=1)
    for params, field in [
        ({"from": monitor.now.isoformat(), "to": start.isoformat()}, "to"),
        ({"from": monitor.now.isoformat(), "to": monitor.now.isoformat()}, "to"),
        ({"from": start.isoformat(), "to": monitor.now.isoformat(), "group_by": "customer"}, "group_by"),
        ({"from": "2026-11-22T20:00:00", "to": monitor.now.isoformat()}, "from"),  # no time zone
        ({"to": monitor.now.isoformat()}, "from"),
    ]:
        refused = problem(await monitor.http.get("/v1/sla/compliance", params=params), 422)
        assert error_fields(refused) == [field], (params, refused)
        assert refused["errors"][0]["in"] == "query"
    window = {"from": start.isoformat(), "to": monitor.now.isoformat()}
    problem(await monitor.anonymous.get("/v1/sla/compliance", params=window), 401)
    reader = await monitor.read_only_key()
    assert ok(await monitor.http.get("/v1/sla/compliance", params=window, headers=reader)) == []


async def test_openapi_lists_the_sla_paths_and_their_methods(monitor) -> None:
    paths = ok(await monitor.anonymous.get("/openapi.json"))["paths"]
    assert {
        p: sorted(m for m in paths[p] if m != "parameters") for p in paths if p.startswith("/v1/sla")
    } == {
        "/v1/sla/clocks": ["get"],
        "/v1/sla/compliance": ["get"],
        "/v1/sla/policies": ["get", "post"],
        "/v1/sla/policies/{name}": ["delete", "get", "put"],
        "/v1/sla/calendars": ["get", "post"],
        "/v1/sla/calendars/{name}": ["delete", "get", "put"],
    }
    compliance = {p["name"] for p in paths["/v1/sla/compliance"]["get"]["parameters"]}
    assert compliance == {"from", "to", "group_by"}
