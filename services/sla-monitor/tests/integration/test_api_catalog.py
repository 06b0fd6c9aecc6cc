"""The SLA monitor's admin API on the real app: policies and business calendars (create, replace, delete).

The monitor (see conftest) starts with a policy file of four policies, p1-p4 (p3 and p4 on the
"office" calendar); every change is checked against the whole catalog.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration
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


# --- policies -----------------------------------------------------------------------------------------


async def test_policy_is_created_once_listed_in_order_and_invalid_bodies_name_the_field(monitor) -> None:
    listed = ok(await monitor.http.get("/v1/sla/policies"))
    assert [(p["name"], p["rank"], p["managed_by"], p["rank_warnings"]) for p in listed] == [
        ("p1", 1, "config", []),
        ("p2", 2, "config", []),
        ("p3", 3, "config", []),
        ("p4", 4, "config", []),
    ]
    body = {
        "name": "gold",
        "priorities": ["P2"],
        "customers": ["acme"],
        "response": "15m",
        "resolution": "PT4H",
        "warnings": [0.9, 0.5, 0.9],
    }
    response = await monitor.http.post("/v1/sla/policies", json=body)
    made = ok(response, 201)
    assert response.headers["location"] == "/v1/sla/policies/gold"
    assert {k: made[k] for k in made if k not in ("updated_at", "rank_warnings")} == {
        "name": "gold",
        "rank": 5,  # after the policy file's four
        "priorities": ["P2"],
        "types": [],
        "services": [],
        "customers": ["acme"],
        "response_seconds": 900.0,
        "resolution_seconds": 14400.0,
        "calendar": "24x7",
        "pause_on": ["awaiting_customer"],
        "warnings": [0.5, 0.9],
        "managed_by": "api",
    }
    assert instant(made["updated_at"]) == monitor.now
    # placed last without asking, behind p2 (every P2), which takes all its incidents
    assert [(w["code"], w["entries"]) for w in made["rank_warnings"]] == [
        ("placed_last", []),
        ("shadowed", ["p2"]),
    ]
    read = ok(await monitor.http.get("/v1/sla/policies/gold"))
    assert read == {**made, "rank_warnings": made["rank_warnings"][1:]}  # being last is no news once made

    again = await monitor.http.post("/v1/sla/policies", json={**body, "response": "1m"})
    assert problem(again, 409, "already-exists")["name"] == "gold"
    assert ok(await monitor.http.get("/v1/sla/policies/gold"))["response_seconds"] == 900.0

    for change, field in [
        ({"warnings": [0.5, 1.5]}, "warnings"),
        ({"warnings": [0]}, "warnings"),
        ({"response": "soon"}, "response"),
        ({"resolution": "-1h"}, "resolution"),
        ({"pause_on": ["lunch"]}, "pause_on.0"),
        ({"priorities": ["P9"]}, "priorities.0"),
        ({"name": "bad name!"}, "name"),
        ({"colour": "red"}, "colour"),
    ]:
        refused = problem(
            await monitor.http.post("/v1/sla/policies", json={**body, "name": "x", **change}), 422
        )
        assert error_fields(refused) == [field], (change, refused)
        assert field in refused["detail"]
    assert [p["name"] for p in ok(await monitor.http.get("/v1/sla/policies"))] == [
        "p1",
        "p2",
        "p3",
        "p4",
        "gold",
    ]


async def test_policy_put_replaces_it_whole_and_no_change_leaves_a_priority_without_one(monitor) -> None:
    alone = problem(await monitor.http.delete("/v1/sla/policies/p1"), 409, "incomplete-configuration")
    assert "P1" in alone["detail"]
    assert ok(await monitor.http.get("/v1/sla/policies/p1"))["name"] == "p1"
    narrowed = {"priorities": ["P2"], "services": ["mail"], "response": "30m", "resolution": "8h"}
    problem(await monitor.http.put("/v1/sla/policies/p2", json=narrowed), 409, "incomplete-configuration")
    unknown_calendar = {"priorities": ["P2"], "response": "30m", "resolution": "8h", "calendar": "night"}
    refused = problem(await monitor.http.put("/v1/sla/policies/p2", json=unknown_calendar), 422)
    assert "night" in refused["detail"] and [e["field"] for e in refused["errors"]] == ["calendar"]

    replacement = {"priorities": ["P2"], "response": "20m", "resolution": "6h", "calendar": "office"}
    replaced = ok(await monitor.http.put("/v1/sla/policies/p2", json=replacement))
    assert (replaced["rank"], replaced["response_seconds"], replaced["resolution_seconds"]) == (
        2,
        1200.0,
        21600.0,
    )
    assert (replaced["calendar"], replaced["pause_on"], replaced["warnings"]) == (
        "office",
        ["awaiting_customer"],
        [0.75, 0.9],
    )
    assert ok(await monitor.http.get("/v1/sla/policies/p2")) == replaced
    assert ok(await monitor.http.put("/v1/sla/policies/p2", json={**replacement, "rank": 4}))["rank"] == 4
    listed = ok(await monitor.http.get("/v1/sla/policies"))
    assert [(p["name"], p["rank"]) for p in listed] == [("p1", 1), ("p3", 2), ("p4", 3), ("p2", 4)]

    problem(await monitor.http.put("/v1/sla/policies/nope", json=replacement), 404, "not-found")
    problem(await monitor.http.get("/v1/sla/policies/nope"), 404, "not-found")
    problem(await monitor.http.delete("/v1/sla/policies/nope"), 404, "not-found")
    bad = problem(await monitor.http.put("/v1/sla/policies/p2", json={**replacement, "name": "p2"}), 422)
    assert error_fields(bad) == ["name"]

    # a catch-all covers every priority: then p1 may go
    catch_all = {"name": "any", "response": "1h", "resolution": "1d"}
    ok(await monitor.http.post("/v1/sla/policies", json=catch_all), 201)
    deleted = await monitor.http.delete("/v1/sla/policies/p1")
    assert (deleted.status_code, deleted.content) == (204, b"")
    problem(await monitor.http.get("/v1/sla/policies/p1"), 404)


async def test_policy_changes_need_the_admin_scope(monitor) -> None:
    reader = await monitor.read_only_key()
    assert len(ok(await monitor.http.get("/v1/sla/policies", headers=reader))) == 4
    body = {"name": "gold", "response": "15m", "resolution": "4h"}
    problem(await monitor.http.post("/v1/sla/policies", json=body, headers=reader), 403)
    problem(await monitor.http.delete("/v1/sla/policies/p4", headers=reader), 403)
    problem(await monitor.anonymous.get("/v1/sla/policies"), 401)
    problem(await monitor.anonymous.post("/v1/sla/policies", json=body), 401)


async def test_a_policy_for_service_requests_is_kept_and_an_unknown_type_refused(monitor) -> None:
    body = {"name": "requests", "types": ["service_request"], "response": "1h", "resolution": "8h"}
    created = ok(await monitor.http.post("/v1/sla/policies", json={**body, "before": "p1"}), 201)
    assert (created["types"], created["rank"]) == (["service_request"], 1)
    assert ok(await monitor.http.get("/v1/sla/policies/requests"))["types"] == ["service_request"]
    assert ok(await monitor.http.get("/v1/sla/policies/p2"))["types"] == []  # any type
    bad = {**body, "name": "changes", "types": ["change"]}
    assert error_fields(problem(await monitor.http.post("/v1/sla/policies", json=bad), 422)) == ["types.0"]


async def test_a_zero_target_is_refused_naming_the_field(monitor) -> None:
    body = {"name": "zero", "response": "0s", "resolution": "4h"}
    refused = problem(await monitor.http.post("/v1/sla/policies", json=body), 422, "validation-error")
    assert error_fields(refused) == ["response"]


# --- calendars ----------------------------------------------------------------------------------------

NEW_YORK = {
    "name": "ny",
    "timezone": "America/New_York",
    "hours": {"mon": ["09:00-12:00", "13:00-17:00"], "sat": ["10:00-14:00"]},
    "holidays": ["2026-11-26"],
}


async def test_calendar_is_created_replaced_and_deleted_once_no_policy_uses_it(monitor) -> None:
    response = await monitor.http.post("/v1/sla/calendars", json=NEW_YORK)
    made = ok(response, 201)
    assert response.headers["location"] == "/v1/sla/calendars/ny"
    assert {k: made[k] for k in made if k != "updated_at"} == {**NEW_YORK, "managed_by": "api"}
    problem(await monitor.http.post("/v1/sla/calendars", json=NEW_YORK), 409, "already-exists")
    assert [c["name"] for c in ok(await monitor.http.get("/v1/sla/calendars"))] == ["ny", "office"]
    assert ok(await monitor.http.get("/v1/sla/calendars/office"))["managed_by"] == "config"

    always = {"name": "ny", "timezone": "America/New_York"}
    replaced = ok(await monitor.http.put("/v1/sla/calendars/ny", json=always))
    assert (replaced["hours"], replaced["holidays"]) == (None, [])
    assert ok(await monitor.http.get("/v1/sla/calendars/ny")) == replaced
    mismatch = problem(await monitor.http.put("/v1/sla/calendars/ny", json={**always, "name": "nyc"}), 422)
    assert error_fields(mismatch) == ["name"]
    problem(await monitor.http.put("/v1/sla/calendars/nyc", json={**always, "name": "nyc"}), 404, "not-found")

    used = problem(await monitor.http.delete("/v1/sla/calendars/office"), 409, "incomplete-configuration")
    assert "office" in used["detail"]
    assert ok(await monitor.http.get("/v1/sla/calendars/office"))["name"] == "office"
    built_in = await monitor.http.post("/v1/sla/calendars", json={"name": "24x7"})
    assert "built in" in problem(built_in, 409)["detail"]
    assert (await monitor.http.delete("/v1/sla/calendars/ny")).status_code == 204
    problem(await monitor.http.get("/v1/sla/calendars/ny"), 404)
    problem(await monitor.http.delete("/v1/sla/calendars/ny"), 404)


async def test_invalid_calendars_are_refused_with_the_reason(monitor) -> None:
    for change, reason in [
        ({"timezone": "Mars/Olympus"}, "unknown IANA time zone"),
        ({"hours": {"mon": ["9-17"]}}, "is not HH:MM-HH:MM"),
        ({"hours": {"mon": ["09:00-24:30"]}}, "24:MM only as 24:00"),
        ({"hours": {"mon": ["17:00-09:00"]}}, "ends before it starts"),
        ({"hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "spans overlap"),
        ({"hours": {"mon": []}}, "never open"),
        ({"hours": {"funday": ["09:00-17:00"]}}, "Input should be 'mon'"),
        ({"holidays": ["2026-13-01"]}, "month value is outside"),
    ]:
        response = await monitor.http.post("/v1/sla/calendars", json={**NEW_YORK, **change})
        refused = problem(response, 422, "validation-error")
        assert len(refused["errors"]) == 1 and reason in refused["errors"][0]["reason"], (change, refused)
    assert error_fields(
        problem(await monitor.http.post("/v1/sla/calendars", json={**NEW_YORK, "timezone": "X/Y"}), 422)
    ) == ["timezone"]
    problem(await monitor.http.get("/v1/sla/calendars/ny"), 404)


@pytest.mark.parametrize(
    "spans", [["9-17"], ["09:00-12:00", "11:00-13:00"]], ids=["malformed", "overlapping"]
)
async def test_a_bad_span_is_refused_naming_its_weekday(monitor, spans: list[str]) -> None:
    response = await monitor.http.post("/v1/sla/calendars", json={**NEW_YORK, "hours": {"mon": spans}})
    [field] = error_fields(problem(response, 422, "validation-error"))
    assert field.startswith("hours.mon")
