"""The router's HTTP API on the real app, PostgreSQL and Kafka: configuration, tier moves, auth, metrics.

Each test starts its own router on a fresh database and its own topic prefix, so it consumes
nobody else's incidents. Incidents are put in by calling the routing use case on the app's own
runtime (one unit of work, as the consumer does); the metrics test sends one through Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tierline_router.bootstrap import create_app
from tierline_router.config import Settings
from tierline_router.service_layer import lifecycle, placement
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared import migrations
from tierline_shared.events import Envelope, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.kafka import new_producer
from tierline_shared.runtime import Runtime
from tierline_shared.testing import (
    TopicReader,
    app_client,
    app_settings,
    asgi_client,
    eventually,
    issue_api_key,
)

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ADMIN_KEY = "tl_test-admin-key-for-router-api-tests"
PROBLEM_JSON = "application/problem+json"
DESK_PRIORITIES = ["P2", "P3", "P4"]
# The desk takes P2-P4; P1s fall back to it (the tier's first queue) until a P1 queue exists.
# zoe belongs to no queue. No ack timeouts or vendors, so nothing moves on its own.
POLICY: dict[str, Any] = {
    "agents": [
        {"name": "ann", "capacity": 2},
        {"name": "bob", "capacity": 2},
        {"name": "cat", "capacity": 1},
        {"name": "dan", "capacity": 3},
        {"name": "zoe", "capacity": 1},
    ],
    "queues": [
        {"name": "desk", "tier": "L1", "priorities": DESK_PRIORITIES, "agents": ["ann", "bob"]},
        {"name": "tech", "tier": "L2", "agents": ["cat"]},
        {"name": "experts", "tier": "L3", "agents": ["dan"]},
    ],
    "escalation_policies": [
        {
            "name": "p1",
            "priorities": ["P1"],
            "ladder": [
                {"tier": "L1", "budget": "15m"},
                {"tier": "L2", "budget": "1h"},
                {"tier": "L3", "budget": "2h"},
                {"tier": "L4"},
            ],
        },
        {
            "name": "rest",
            "ladder": [
                {"tier": "L1", "budget": "4h"},
                {"tier": "L2", "budget": "8h"},
                {"tier": "L3", "budget": "12h"},
            ],
        },
    ],
}
PATHS = {
    "/v1/incidents/{incident_id}/assignment",
    "/v1/incidents/{incident_id}/escalate",
    "/v1/incidents/{incident_id}/de-escalate",
    "/v1/agents",
    "/v1/agents/{name}",
    "/v1/agents/{name}/availability",
    "/v1/queues",
    "/v1/queues/{name}",
    "/v1/escalation-policies",
    "/v1/escalation-policies/{name}",
    "/metrics",
}


@dataclass
class Router:
    """A started router app, a client with the admin key, one with no key, and its runtime."""

    http: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    runtime: Runtime
    topic_prefix: str

    async def route(self, priority: str = "P3") -> uuid.UUID:
        event = created(priority)
        async with self.runtime.unit_of_work() as session:
            await placement.assign_new_incident(
                RouterUnitOfWork(session, self.runtime.state["deps"].outbox),
                self.runtime.state["deps"],
                event,
            )
        return event.incident_id

    async def release(self, incident_id: uuid.UUID) -> None:
        async with self.runtime.unit_of_work() as session:
            await lifecycle.release(
                RouterUnitOfWork(session, self.runtime.state["deps"].outbox),
                self.runtime.state["deps"],
                incident_id,
            )

    async def assignment(self, incident_id: uuid.UUID) -> dict[str, Any]:
        return ok(await self.http.get(f"/v1/incidents/{incident_id}/assignment"))

    async def agents(self) -> dict[str, dict[str, Any]]:
        return {a["name"]: a for a in ok(await self.http.get("/v1/agents"))}


@pytest.fixture
async def router(infra, new_database, tmp_path: Path) -> AsyncIterator[Router]:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url)
    (tmp_path / "router.yaml").write_text(yaml.safe_dump(POLICY))
    settings = app_settings(Settings, infra, url, tmp_path, api_key=ADMIN_KEY)
    app = create_app(settings)
    base = "http://router.test"
    async with (
        app_client(app, ADMIN_KEY, base_url=base) as http,
        asgi_client(app, base_url=base) as anonymous,
    ):
        yield Router(http, anonymous, app.state.runtime, settings.kafka_topic_prefix)


def created(priority: str = "P3") -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="Mailbox full",
        service="mail",
        category="email",
        priority=priority,
        channel="api",
        reporter="r@example.com",
        created_at=datetime.now(UTC),
    )


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


# --- agents ---------------------------------------------------------------------------------------


async def test_agent_is_created_once_and_invalid_bodies_name_the_field(router: Router) -> None:
    response = await router.http.post(
        "/v1/agents", json={"name": "zed", "skills": ["vpn", "network", "vpn"], "capacity": 3}
    )
    assert ok(response, 201) == {
        "name": "zed",
        "skills": ["network", "vpn"],
        "capacity": 3,
        "available": True,
        "open_incidents": 0,
        "queues": [],
    }
    assert response.headers["location"] == "/v1/agents/zed"

    again = await router.http.post("/v1/agents", json={"name": "zed", "capacity": 9})
    assert problem(again, 409, "already-exists")["name"] == "zed"
    assert ok(await router.http.get("/v1/agents/zed"))["capacity"] == 3

    for body, field in [
        ({"name": "x1", "capacity": 0}, "capacity"),
        ({"name": "bad name!"}, "name"),
        ({"name": "x2", "colour": "red"}, "colour"),
    ]:
        refused = problem(await router.http.post("/v1/agents", json=body), 422, "validation-error")
        assert error_fields(refused) == [field], refused
        assert field in refused["detail"]
    assert sorted(await router.agents()) == ["ann", "bob", "cat", "dan", "zed", "zoe"]


async def test_agents_show_their_load_and_going_away_hands_incidents_to_the_queue(router: Router) -> None:
    first, second, third = [await router.route() for _ in range(3)]
    assert [(await router.assignment(i))["assignee"] for i in (first, second, third)] == ["ann", "bob", "ann"]
    agents = await router.agents()
    assert (agents["ann"]["open_incidents"], agents["ann"]["queues"]) == (2, ["desk"])
    assert (agents["bob"]["open_incidents"], agents["bob"]["queues"]) == (1, ["desk"])
    assert (agents["zoe"]["open_incidents"], agents["zoe"]["queues"]) == (0, [])

    away = ok(await router.http.patch("/v1/agents/ann", json={"available": False}))
    assert (away["available"], away["open_incidents"], away["capacity"]) == (False, 0, 2)
    # bob (capacity 2, holding 1) takes the older of ann's incidents; the other waits in the desk
    moved, left = await router.assignment(first), await router.assignment(third)
    assert (moved["assignee"], moved["queue"], moved["tier"]) == ("bob", "desk", "L1")
    assert (left["assignee"], left["queue"]) == (None, "desk")
    assert left["waiting_since"] is not None

    back = ok(await router.http.put("/v1/agents/ann/availability", json={"available": True}))
    assert (back["available"], back["open_incidents"]) == (True, 1)
    taken = await router.assignment(third)
    assert (taken["assignee"], taken["waiting_since"]) == ("ann", None)

    missing = await router.http.put("/v1/agents/ann/availability", json={})
    assert error_fields(problem(missing, 422)) == ["available"]
    for field in ("available", "capacity", "skills"):  # null is not "leave it": a 422 naming it
        nulled = problem(await router.http.patch("/v1/agents/ann", json={field: None}), 422)
        assert error_fields(nulled) == [field] and "null" in str(nulled["errors"])
    assert (await router.agents())["ann"]["available"] is True
    problem(await router.http.put("/v1/agents/nobody/availability", json={"available": True}), 404)


async def test_agent_in_a_queue_is_deleted_only_once_taken_out_of_it(router: Router) -> None:
    refused = problem(await router.http.delete("/v1/agents/bob"), 409, "in-use")
    assert refused["queues"] == ["desk"]
    assert ok(await router.http.get("/v1/agents/bob"))["queues"] == ["desk"]

    desk = {"tier": "L1", "priorities": DESK_PRIORITIES, "agents": ["ann"]}
    assert ok(await router.http.put("/v1/queues/desk", json=desk))["agents"] == ["ann"]
    deleted = await router.http.delete("/v1/agents/bob")
    assert (deleted.status_code, deleted.content) == (204, b"")
    problem(await router.http.get("/v1/agents/bob"), 404, "not-found")
    problem(await router.http.delete("/v1/agents/bob"), 404)


# --- queues ---------------------------------------------------------------------------------------


async def test_queue_naming_an_unknown_agent_is_refused_naming_its_index(router: Router) -> None:
    response = await router.http.post(
        "/v1/queues", json={"name": "night", "tier": "L1", "agents": ["ann", "ghost"]}
    )
    refused = problem(response, 422, "validation-error")
    assert refused["errors"] == [
        {"field": "agents.1", "reason": "unknown agent 'ghost'", "pointer": "/agents/1"}
    ]
    problem(await router.http.get("/v1/queues/night"), 404)


async def test_queues_count_held_and_waiting_incidents(router: Router) -> None:
    response = await router.http.post(
        "/v1/queues", json={"name": "vip", "tier": "L1", "priorities": ["P1"], "agents": ["zoe"]}
    )
    made = ok(response, 201)
    assert response.headers["location"] == "/v1/queues/vip"
    assert (made["held"], made["waiting"], made["managed_by"], made["strategy"]) == (
        0,
        0,
        "api",
        "round_robin",
    )
    assert made["rank"] == 2  # ranked among the L1 queues: after the file's desk, as none was asked for
    assert [w["code"] for w in made["rank_warnings"]] == ["placed_last"]

    held, waiting = await router.route("P1"), await router.route("P1")  # zoe has capacity 1
    assert [(await router.assignment(i))["assignee"] for i in (held, waiting)] == ["zoe", None]
    assert (await router.assignment(waiting))["queue"] == "vip"
    vip = ok(await router.http.get("/v1/queues/vip"))
    assert (vip["held"], vip["waiting"]) == (1, 1)
    listed = ok(await router.http.get("/v1/queues"))
    assert [(q["name"], q["tier"], q["held"], q["waiting"]) for q in listed] == [
        ("desk", "L1", 0, 0),
        ("vip", "L1", 1, 1),
        ("tech", "L2", 0, 0),
        ("experts", "L3", 0, 0),
    ]
    assert listed[0]["managed_by"] == "config"


async def test_member_taken_out_of_a_queue_hands_its_incidents_there_to_the_rest(router: Router) -> None:
    first, second = await router.route(), await router.route()
    assert [(await router.assignment(i))["assignee"] for i in (first, second)] == ["ann", "bob"]

    desk = {"tier": "L1", "priorities": DESK_PRIORITIES, "agents": ["bob"]}
    replaced = ok(await router.http.put("/v1/queues/desk", json=desk))
    assert (replaced["agents"], replaced["held"], replaced["waiting"]) == (["bob"], 2, 0)
    assert (await router.assignment(first))["assignee"] == "bob"
    ann = ok(await router.http.get("/v1/agents/ann"))
    assert (ann["open_incidents"], ann["queues"]) == (0, [])

    moved_tier = await router.http.put("/v1/queues/desk", json={**desk, "tier": "L2"})
    assert problem(moved_tier, 409, "in-use")["tier"] == "L1"
    assert ok(await router.http.get("/v1/queues/desk"))["tier"] == "L1"


async def test_queue_holding_incidents_or_alone_in_its_tier_is_not_deleted(router: Router) -> None:
    ok(await router.http.post("/v1/queues", json={"name": "vip", "tier": "L1", "priorities": ["P1"]}), 201)
    incident = await router.route("P1")
    assert (await router.assignment(incident))["queue"] == "vip"
    refused = problem(await router.http.delete("/v1/queues/vip"), 409, "in-use")
    assert refused["open_incidents"] == 1
    await router.release(incident)
    assert (await router.http.delete("/v1/queues/vip")).status_code == 204
    problem(await router.http.get("/v1/queues/vip"), 404)

    alone = problem(await router.http.delete("/v1/queues/experts"), 409, "incomplete-configuration")
    assert "L3" in alone["detail"]
    assert ok(await router.http.get("/v1/queues/experts"))["agents"] == ["dan"]


# --- escalation policies --------------------------------------------------------------------------


async def test_policy_with_a_ladder_that_cannot_be_followed_is_refused(router: Router) -> None:
    for ladder, reason in [
        ([{"tier": "L2", "budget": "1h"}, {"tier": "L1", "budget": "1h"}], "must climb"),
        ([{"tier": "L1", "budget": "1h"}, {"tier": "L4", "budget": "1h"}], "L4 takes no budget"),
        ([{"tier": "L4"}], "starts at a human tier"),
    ]:
        response = await router.http.post(
            "/v1/escalation-policies", json={"name": "bad", "priorities": ["P2"], "ladder": ladder}
        )
        refused = problem(response, 422, "validation-error")
        assert reason in refused["errors"][0]["reason"], refused
    problem(await router.http.get("/v1/escalation-policies/bad"), 404)


async def test_policies_are_listed_in_matching_order_with_budgets_in_seconds(router: Router) -> None:
    body = {
        "name": "p2-fast",
        "rank": 2,
        "priorities": ["P2"],
        "ladder": [{"tier": "L1", "budget": "15m"}, {"tier": "L2", "budget": "1h"}, {"tier": "L4"}],
        "ack_timeout": "5m",
        "repeat": 2,
    }
    response = await router.http.post("/v1/escalation-policies", json=body)
    made = ok(response, 201)
    assert response.headers["location"] == "/v1/escalation-policies/p2-fast"
    assert (made["rank"], made["ack_timeout_seconds"], made["repeat"], made["managed_by"]) == (
        2,
        300.0,
        2,
        "api",
    )
    assert made["rank_warnings"] == []

    listed = ok(await router.http.get("/v1/escalation-policies"))
    assert [(p["name"], p["rank"]) for p in listed] == [("p1", 1), ("p2-fast", 2), ("rest", 3)]
    assert listed[1]["ladder"] == [
        {"tier": "L1", "budget_seconds": 900.0},
        {"tier": "L2", "budget_seconds": 3600.0},
        {"tier": "L4", "budget_seconds": None},
    ]
    assert [s["budget_seconds"] for s in listed[2]["ladder"]] == [14400.0, 28800.0, 43200.0]
    assert listed[2]["priorities"] == [] and listed[2]["ack_timeout_seconds"] is None
    problem(await router.http.post("/v1/escalation-policies", json=body), 409, "already-exists")


async def test_policy_covering_a_priority_alone_stays_and_put_replaces_it_whole(router: Router) -> None:
    alone = problem(await router.http.delete("/v1/escalation-policies/rest"), 409, "incomplete-configuration")
    assert "P2" in alone["detail"]
    assert ok(await router.http.get("/v1/escalation-policies/rest"))["name"] == "rest"
    narrowed = await router.http.put(
        "/v1/escalation-policies/rest", json={"services": ["mail"], "ladder": [{"tier": "L1"}]}
    )
    problem(narrowed, 409, "incomplete-configuration")

    replacement = {"priorities": ["P1"], "ladder": [{"tier": "L2", "budget": "30m"}, {"tier": "L3"}]}
    replaced = ok(await router.http.put("/v1/escalation-policies/p1", json=replacement))
    assert replaced["ladder"] == [
        {"tier": "L2", "budget_seconds": 1800.0},
        {"tier": "L3", "budget_seconds": None},
    ]
    assert (replaced["rank"], replaced["repeat"], replaced["ack_timeout_seconds"]) == (1, 0, None)
    assert ok(await router.http.get("/v1/escalation-policies/p1"))["ladder"] == replaced["ladder"]
    problem(await router.http.put("/v1/escalation-policies/nope", json=replacement), 404)

    # "rest" has no priority filter, so it covers P1 too: p1 may go
    assert (await router.http.delete("/v1/escalation-policies/p1")).status_code == 204
    assert [p["name"] for p in ok(await router.http.get("/v1/escalation-policies"))] == ["rest"]


# --- incidents ------------------------------------------------------------------------------------


async def test_escalate_and_de_escalate_move_the_incident_between_tiers(router: Router) -> None:
    unknown = uuid.uuid4()
    not_held = problem(await router.http.post(f"/v1/incidents/{unknown}/escalate"), 404, "not-found")
    assert str(unknown) in not_held["detail"]
    problem(await router.http.get(f"/v1/incidents/{unknown}/assignment"), 404)
    problem(await router.http.post("/v1/incidents/not-a-uuid/escalate"), 422)

    incident = await router.route()
    before = await router.assignment(incident)
    assert (before["tier"], before["queue"], before["assignee"], before["policy"]) == (
        "L1",
        "desk",
        "ann",
        "rest",
    )

    up = ok(await router.http.post(f"/v1/incidents/{incident}/escalate", json={"note": "customer VIP"}))
    assert (up["tier"], up["queue"], up["assignee"], up["escalations"]) == ("L2", "tech", "cat", 1)
    assert (await router.assignment(incident))["tier"] == "L2"

    no_note = problem(await router.http.post(f"/v1/incidents/{incident}/de-escalate", json={}), 422)
    assert error_fields(no_note) == ["note"]
    assert (await router.assignment(incident))["tier"] == "L2"

    down = await router.http.post(f"/v1/incidents/{incident}/de-escalate", json={"note": "desk can finish"})
    body = ok(down)
    assert (body["tier"], body["queue"], body["escalations"]) == ("L1", "desk", 1)
    assert body["assignee"] in ("ann", "bob")
    assert ok(await router.http.get("/v1/agents/cat"))["open_incidents"] == 0


async def test_a_move_expecting_a_tier_the_incident_left_is_a_conflict(router: Router) -> None:
    incident = await router.route()
    path = f"/v1/incidents/{incident}/escalate"
    assert ok(await router.http.post(path, json={"note": "VIP", "from_tier": "L1"}))["tier"] == "L2"
    again = problem(await router.http.post(path, json={"note": "VIP", "from_tier": "L1"}), 409, "tier-moved")
    assert again["detail"].startswith("the incident is at L2 now, not L1"), again
    assert (again["tier"], again["expected_tier"]) == ("L2", "L1")
    down = f"/v1/incidents/{incident}/de-escalate"
    problem(await router.http.post(down, json={"note": "n", "from_tier": "L3"}), 409, "tier-moved")
    bad = problem(await router.http.post(path, json={"from_tier": "L9"}), 422)
    assert error_fields(bad) == ["from_tier"]
    assert (await router.assignment(incident))["tier"] == "L2"


async def test_a_released_incident_no_longer_moves(router: Router) -> None:
    incident = await router.route()
    await router.release(incident)
    assert (await router.assignment(incident))["status"] == "released"
    for path, body in [("escalate", None), ("de-escalate", {"to_tier": "L1", "note": "n"})]:
        refused = problem(
            await router.http.post(f"/v1/incidents/{incident}/{path}", json=body), 409, "conflict"
        )
        assert refused["detail"].startswith("The incident is resolved"), refused
    assert (await router.assignment(incident))["tier"] == "L1"


async def test_manual_moves_stop_at_the_ends_of_the_tiers(router: Router) -> None:
    incident = await router.route()
    for tier in ("L2", "L3"):  # no body: the note is optional
        assert ok(await router.http.post(f"/v1/incidents/{incident}/escalate"))["tier"] == tier
    # past the ladder's top (L3) a person may go to L4, but no vendor takes this incident
    problem(await router.http.post(f"/v1/incidents/{incident}/escalate"), 409, "no-vendor")
    assert (await router.assignment(incident))["tier"] == "L3"

    sideways = await router.http.post(
        f"/v1/incidents/{incident}/de-escalate", json={"to_tier": "L3", "note": "same tier"}
    )
    assert error_fields(problem(sideways, 422, "validation-error")) == ["to_tier"]
    down = await router.http.post(
        f"/v1/incidents/{incident}/de-escalate", json={"to_tier": "L1", "note": "password reset"}
    )
    assert ok(down)["tier"] == "L1"
    bottom = await router.http.post(f"/v1/incidents/{incident}/de-escalate", json={"note": "lower?"})
    problem(bottom, 409, "bottom-of-ladder")


# --- auth -----------------------------------------------------------------------------------------


async def test_writes_need_a_key_with_the_scope_and_reads_work_with_the_admin_key(router: Router) -> None:
    incident = await router.route()
    no_key = problem(await router.anonymous.post("/v1/agents", json={"name": "mal"}), 401, "unauthorized")
    assert no_key["detail"].startswith("Send an API key")
    unauthorized = await router.anonymous.post(f"/v1/incidents/{incident}/escalate")
    problem(unauthorized, 401, "unauthorized")
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    wrong = await router.anonymous.delete("/v1/queues/desk", headers={"Authorization": "Bearer tl_wrong"})
    problem(wrong, 401)
    problem(await router.anonymous.get("/v1/agents"), 401)
    assert (await router.assignment(incident))["tier"] == "L1"
    assert "mal" not in await router.agents()
    for path in (
        "/v1/agents",
        "/v1/queues",
        "/v1/escalation-policies",
        f"/v1/incidents/{incident}/assignment",
    ):
        assert (await router.http.get(path)).status_code == 200, path

    # an incidents:write key may sign agents off and move incidents, not change the configuration
    writer = await issue_api_key(router.runtime, ["incidents:write"])
    away = await router.anonymous.put(
        "/v1/agents/zoe/availability", json={"available": False}, headers=writer
    )
    assert ok(away)["available"] is False
    assert ok(await router.anonymous.get("/v1/queues", headers=writer))
    forbidden = await router.anonymous.patch("/v1/agents/zoe", json={"capacity": 5}, headers=writer)
    assert problem(forbidden, 403, "forbidden")["required_scope"] == "admin"
    reader = await issue_api_key(router.runtime, ["incidents:read"])
    problem(await router.anonymous.post(f"/v1/incidents/{incident}/escalate", headers=reader), 403)
    assert (await router.assignment(incident))["tier"] == "L1"
    up = await router.anonymous.post(f"/v1/incidents/{incident}/escalate", headers=writer)
    assert ok(up)["tier"] == "L2"


# --- operations -----------------------------------------------------------------------------------


async def test_an_incident_from_kafka_is_assigned_announced_and_counted(infra, router: Router) -> None:
    async def assignments() -> float:
        text = (await router.http.get("/metrics")).text
        labels = {"tier": "L1", "reason": "routed", "outcome": "assigned"}
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "tierline_router_assignments_total" and s.labels == labels
        )

    before = await assignments()
    event = created()
    record = cloudevents.encode(Envelope(data=event, source="/tierline/intake"))
    async with TopicReader(infra.bootstrap_servers, [router.topic_prefix + topics.ROUTING]) as reader:
        producer = new_producer(infra.bootstrap_servers, "router-api-test")
        await producer.start()
        try:
            await producer.send_and_wait(
                router.topic_prefix + record.topic, value=record.value, key=record.key, headers=record.headers
            )
        finally:
            await producer.stop()
        [announced] = await eventually(
            lambda: reader.of_type("tierline.incident.assigned.v1", str(event.incident_id)),
            timeout=30,
            what="the router's assignment on its topic",
        )
    assert (announced.data.assignee, announced.data.queue, announced.data.reason) == ("ann", "desk", "routed")
    assert (await router.assignment(event.incident_id))["assignee"] == "ann"

    async def counted_once() -> bool:
        return await assignments() == before + 1

    await eventually(counted_once, what="tierline_router_assignments_total counted once")


async def test_openapi_lists_every_route(router: Router) -> None:
    spec = ok(await router.http.get("/openapi.json"))
    assert set(spec["paths"]) >= PATHS, sorted(PATHS - set(spec["paths"]))
    assert set(spec["paths"]["/v1/agents/{name}"]) == {"get", "patch", "delete"}
    assert set(spec["paths"]["/v1/queues/{name}"]) == {"get", "put", "delete"}
    assert set(spec["paths"]["/v1/escalation-policies/{name}"]) == {"get", "put", "delete"}
    assert set(spec["paths"]["/v1/agents/{name}/availability"]) == {"put"}


async def test_unacknowledged_incident_is_paged_again_then_escalated_by_the_running_timer(
    infra, router: Router
) -> None:
    """The app's own acknowledgement timer (a background loop) re-notifies, then escalates with no_ack."""
    ladder = POLICY["escalation_policies"][0]["ladder"]
    ok(
        await router.http.put(
            "/v1/escalation-policies/p1",
            json={"priorities": ["P1"], "ladder": ladder, "ack_timeout": "1s", "repeat": 1},
        )
    )
    async with TopicReader(infra.bootstrap_servers, [router.topic_prefix + topics.ROUTING]) as reader:
        incident = await router.route("P1")
        subject = str(incident)
        escalated = await eventually(
            lambda: reader.of_type("tierline.incident.escalated.v1", subject),
            timeout=30,
            what="the no_ack escalation",
        )
        [renotified] = reader.of_type("tierline.incident.renotified.v1", subject)
    assert (renotified.data.attempt, renotified.data.of) == (1, 1)
    assert renotified.time < escalated[0].time
    assert (escalated[0].data.to_tier, escalated[0].data.reason) == ("L2", "no_ack")
    now = await router.assignment(incident)
    assert (now["tier"], now["assignee"], now["renotified"]) == ("L2", "cat", 0)
    assert now["ack_due_at"] is not None  # cat has to acknowledge in turn
