"""Where API-made queues and escalation policies land in the match order, and what survives a restart.

Each test runs the real router app on its own PostgreSQL database, starting it again (on the same
database and policy file, as a deploy would) to see the file applied once more.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tierline_router.bootstrap import create_app
from tierline_router.config import Settings
from tierline_router.service_layer import placement
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared import migrations
from tierline_shared.events import IncidentCreated
from tierline_shared.runtime import Runtime
from tierline_shared.testing import (
    answer,
    app_client,
    app_settings,
    never_reached,
    problem_answer,
    rank_warning_codes,
)

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ADMIN_KEY = "tl_test-admin-key-for-router-ranking-tests"
PROBLEM_JSON = "application/problem+json"
LADDER = [{"tier": "L1", "budget": "1h"}, {"tier": "L2", "budget": "2h"}, {"tier": "L3"}]
FAST_LADDER = [{"tier": "L2", "budget": "1h"}, {"tier": "L3"}]
POLICY_FILE: dict[str, Any] = {
    "agents": [{"name": "ann"}, {"name": "dan"}],
    "queues": [
        {"name": "desk", "tier": "L1", "agents": ["ann"]},
        {"name": "net", "tier": "L2", "categories": ["network"], "agents": ["dan"]},
        {"name": "tech", "tier": "L2", "agents": ["dan"]},
        {"name": "experts", "tier": "L3", "agents": ["dan"]},
    ],
    "escalation_policies": [
        {"name": "p1-major", "priorities": ["P1"], "ladder": LADDER},
        {"name": "standard", "ladder": LADDER},
    ],
}
VPN_FAST_TRACK = {"name": "vpn-fast-track", "services": ["vpn"], "priorities": ["P2"], "ladder": FAST_LADDER}


@dataclass
class Router:
    http: httpx.AsyncClient
    runtime: Runtime

    async def policy_for(self, service: str, priority: str) -> str:
        """The policy a new incident gets, routed by the app's own use case."""
        event = IncidentCreated(
            incident_id=uuid.uuid4(),
            title="VPN down",
            service=service,
            category="network",
            priority=priority,
            channel="api",
            reporter="r@example.com",
            created_at=datetime.now(UTC),
        )
        async with self.runtime.unit_of_work() as session:
            await placement.assign_new_incident(
                RouterUnitOfWork(session, self.runtime.state["deps"].outbox),
                self.runtime.state["deps"],
                event,
            )
        return answer(await self.http.get(f"/v1/incidents/{event.incident_id}/assignment"))["policy"]

    async def order(self, path: str) -> list[tuple[str, int]]:
        return [(e["name"], e["rank"]) for e in answer(await self.http.get(path))]

    async def queues(self) -> dict[str, list[str]]:
        by_tier: dict[str, list[str]] = {}
        for queue in answer(await self.http.get("/v1/queues")):
            by_tier.setdefault(queue["tier"], []).append(queue["name"])
        return by_tier


@dataclass
class Deployment:
    """A router's database and config folder, and a way to start (and start again) the app on them."""

    infra: Any
    url: str
    config_dir: Path

    def write_file(self, policy: dict[str, Any]) -> None:
        (self.config_dir / "router.yaml").write_text(yaml.safe_dump(policy))

    @asynccontextmanager
    async def started(self) -> AsyncIterator[Router]:
        app = create_app(app_settings(Settings, self.infra, self.url, self.config_dir, api_key=ADMIN_KEY))
        async with app_client(app, ADMIN_KEY, base_url="http://router.test") as http:
            yield Router(http, app.state.runtime)


@pytest.fixture
def deployment(infra, new_database, tmp_path: Path) -> Deployment:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url)
    deployed = Deployment(infra, url, tmp_path)
    deployed.write_file(POLICY_FILE)
    return deployed


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, on the service's own logger: starting the app replaces the root logger's handlers."""
    logger = logging.getLogger("tierline_router")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


async def test_a_policy_made_without_a_position_is_warned_it_is_never_reached_until_placed(
    deployment: Deployment,
) -> None:
    async with deployment.started() as router:
        made = answer(await router.http.post("/v1/escalation-policies", json=VPN_FAST_TRACK), 201)
        assert (made["rank"], rank_warning_codes(made)) == (
            3,
            [("placed_last", []), ("shadowed", ["standard"])],
        )
        assert "taken first by 'standard' (rank 2)" in made["rank_warnings"][1]["detail"]
        assert await router.policy_for("vpn", "P2") == "standard"  # what issue 13 saw
        listed = answer(await router.http.get("/v1/escalation-policies"))
        assert [(p["name"], p["rank"], [w["code"] for w in p["rank_warnings"]]) for p in listed] == [
            ("p1-major", 1, []),
            ("standard", 2, []),
            ("vpn-fast-track", 3, ["shadowed"]),
        ]

        spec = {k: v for k, v in VPN_FAST_TRACK.items() if k != "name"}
        moved = answer(
            await router.http.put(
                "/v1/escalation-policies/vpn-fast-track", json={**spec, "before": "standard"}
            )
        )
        assert (moved["rank"], moved["rank_warnings"]) == (2, [])
        assert await router.order("/v1/escalation-policies") == [
            ("p1-major", 1),
            ("vpn-fast-track", 2),
            ("standard", 3),
        ]
        assert await router.policy_for("vpn", "P2") == "vpn-fast-track"
        assert await router.policy_for("vpn", "P3") == "standard"
        assert answer(await router.http.get("/v1/escalation-policies/vpn-fast-track"))["rank_warnings"] == []


async def test_entries_go_to_a_rank_or_next_to_another_and_those_after_move_down(
    deployment: Deployment,
) -> None:
    async with deployment.started() as router:
        first = {"name": "vip", "priorities": ["P1"], "services": ["ceo"], "ladder": FAST_LADDER, "rank": 1}
        assert answer(await router.http.post("/v1/escalation-policies", json=first), 201)["rank"] == 1
        after = {**VPN_FAST_TRACK, "after": "p1-major"}
        assert answer(await router.http.post("/v1/escalation-policies", json=after), 201)["rank"] == 3
        assert await router.order("/v1/escalation-policies") == [
            ("vip", 1),
            ("p1-major", 2),
            ("vpn-fast-track", 3),
            ("standard", 4),
        ]
        spec = {k: v for k, v in first.items() if k not in ("name", "rank")}
        last = answer(await router.http.put("/v1/escalation-policies/vip", json={**spec, "rank": 4}))
        assert last["rank"] == 4 and last["rank_warnings"][0]["code"] == "shadowed"  # behind p1-major
        assert await router.order("/v1/escalation-policies") == [
            ("p1-major", 1),
            ("vpn-fast-track", 2),
            ("standard", 3),
            ("vip", 4),
        ]

        # a queue is ranked among its own tier's queues
        vpn_desk = {
            "name": "vpn-desk",
            "tier": "L2",
            "services": ["vpn"],
            "agents": ["dan"],
            "before": "tech",
        }
        made = answer(await router.http.post("/v1/queues", json=vpn_desk), 201)
        assert (made["rank"], made["rank_warnings"]) == (2, [])
        listed = answer(await router.http.get("/v1/queues"))
        assert [(q["tier"], q["name"], q["rank"]) for q in listed] == [
            ("L1", "desk", 1),
            ("L2", "net", 1),
            ("L2", "vpn-desk", 2),
            ("L2", "tech", 3),
            ("L3", "experts", 1),
        ]
        # moved to another tier without a position: last there, and the tier it left closes up
        moved = answer(await router.http.put("/v1/queues/vpn-desk", json={"tier": "L3", "services": ["vpn"]}))
        assert (moved["rank"], rank_warning_codes(moved)) == (
            2,
            [("placed_last", []), ("shadowed", ["experts"])],
        )
        assert await router.order("/v1/queues") == [
            ("desk", 1),
            ("net", 1),
            ("tech", 2),
            ("experts", 1),
            ("vpn-desk", 2),
        ]
        assert (await router.http.delete("/v1/escalation-policies/vpn-fast-track")).status_code == 204
        assert [r for _, r in await router.order("/v1/escalation-policies")] == [1, 2, 3]


async def test_an_entry_placed_first_is_warned_about_the_entries_it_leaves_unreached(
    deployment: Deployment,
) -> None:
    async with deployment.started() as router:
        everything = {"name": "everything", "ladder": LADDER, "rank": 1}
        made = answer(await router.http.post("/v1/escalation-policies", json=everything), 201)
        assert rank_warning_codes(made) == [("shadows", ["p1-major", "standard"])]
        listed = answer(await router.http.get("/v1/escalation-policies"))
        assert {p["name"]: rank_warning_codes(p) for p in listed} == {
            "everything": [],
            "p1-major": [("shadowed", ["everything"])],
            "standard": [("shadowed", ["everything"])],
        }
        catch_all = answer(
            await router.http.post("/v1/queues", json={"name": "any", "tier": "L2", "rank": 1}), 201
        )
        assert rank_warning_codes(catch_all) == [("shadows", ["net", "tech"])]
        assert rank_warning_codes(answer(await router.http.get("/v1/queues/tech"))) == [("shadowed", ["any"])]


async def test_bad_positions_are_refused_naming_the_field_and_change_nothing(deployment: Deployment) -> None:
    async with deployment.started() as router:
        policies = "/v1/escalation-policies"
        for body, field, reason in [
            ({"before": "nope"}, "before", "no escalation policy named 'nope'"),
            ({"after": "nope"}, "after", "no escalation policy named 'nope'"),
            ({"rank": 4}, "rank", "must be from 1 (first) to 3 (last)"),
            ({"rank": 0}, "rank", "Input should be greater than or equal to 1"),
            ({"rank": "first"}, "rank", "Input should be a valid integer"),
            ({"before": "bad name!"}, "before", "String should match pattern"),
        ]:
            refused = problem_answer(await router.http.post(policies, json={**VPN_FAST_TRACK, **body}), 422)
            assert [(e["field"], e["reason"][: len(reason)]) for e in refused["errors"]] == [(field, reason)]
            assert refused["type"] == "https://tierline.dev/problems/validation-error"
        both = problem_answer(
            await router.http.post(policies, json={**VPN_FAST_TRACK, "rank": 1, "after": "standard"}), 422
        )
        assert [e["field"] for e in both["errors"]] == ["rank", "after"]
        assert "one of rank, before or after" in both["detail"]

        spec = {"priorities": ["P1"], "ladder": LADDER}
        itself = problem_answer(
            await router.http.put(f"{policies}/p1-major", json={**spec, "after": "p1-major"}), 422
        )
        assert [(e["field"], e["reason"]) for e in itself["errors"]] == [("after", "names the entry itself")]
        too_far = problem_answer(await router.http.put(f"{policies}/p1-major", json={**spec, "rank": 3}), 422)
        assert too_far["errors"][0]["reason"] == "must be from 1 (first) to 2 (last)"
        other_tier = {"name": "vpn-desk", "tier": "L1", "before": "tech"}
        wrong_tier = problem_answer(await router.http.post("/v1/queues", json=other_tier), 422)
        assert [(e["field"], e["reason"]) for e in wrong_tier["errors"]] == [
            ("before", "no L1 queue named 'tech'")
        ]

        assert await router.order(policies) == [("p1-major", 1), ("standard", 2)]
        problem_answer(await router.http.get(f"{policies}/vpn-fast-track"), 404)
        problem_answer(await router.http.get("/v1/queues/vpn-desk"), 404)


async def test_a_restart_applies_the_file_again_without_moving_what_the_api_placed(
    deployment: Deployment, logged: pytest.LogCaptureFixture
) -> None:
    async with deployment.started() as router:
        answer(
            await router.http.post("/v1/escalation-policies", json={**VPN_FAST_TRACK, "before": "standard"}),
            201,
        )
        vip = {"name": "vip", "priorities": ["P1"], "services": ["ceo"], "ladder": FAST_LADDER, "rank": 1}
        answer(await router.http.post("/v1/escalation-policies", json=vip), 201)
        answer(
            await router.http.post("/v1/escalation-policies", json={"name": "late", "ladder": LADDER}), 201
        )
        vpn_desk = {"name": "vpn-desk", "tier": "L2", "services": ["vpn"], "agents": ["dan"], "after": "net"}
        answer(await router.http.post("/v1/queues", json=vpn_desk), 201)
        # a file entry moved through the API: the file's order comes back at the next start
        answer(
            await router.http.put("/v1/queues/net", json={"tier": "L2", "categories": ["network"], "rank": 3})
        )
        assert await router.queues() == {"L1": ["desk"], "L2": ["vpn-desk", "tech", "net"], "L3": ["experts"]}
        placed = await router.order("/v1/escalation-policies")
        assert placed == [("vip", 1), ("p1-major", 2), ("vpn-fast-track", 3), ("standard", 4), ("late", 5)]

    async with deployment.started() as router:  # the same file, applied again
        assert await router.order("/v1/escalation-policies") == placed
        # net is back in the file's place (before tech); vpn-desk, then in front of both, stays first
        assert await router.queues() == {"L1": ["desk"], "L2": ["vpn-desk", "net", "tech"], "L3": ["experts"]}
        assert await router.policy_for("vpn", "P2") == "vpn-fast-track"

    # the file changes: a new policy before standard, and p1-major moved after it
    deployment.write_file(
        {
            **POLICY_FILE,
            "escalation_policies": [
                {"name": "p2-major", "priorities": ["P2"], "services": ["erp"], "ladder": LADDER},
                {"name": "standard", "ladder": LADDER},
                {"name": "p1-major", "priorities": ["P1"], "ladder": LADDER},
            ],
        }
    )
    logged.clear()
    async with deployment.started() as router:
        listed = answer(await router.http.get("/v1/escalation-policies"))
        assert [(p["name"], p["rank"], p["managed_by"]) for p in listed] == [
            (
                "vip",
                1,
                "api",
            ),  # was before p1-major... which the file now puts last; vip stays in front of it
            ("p2-major", 2, "config"),
            ("vpn-fast-track", 3, "api"),  # still right in front of standard
            ("standard", 4, "config"),
            ("p1-major", 5, "config"),
            ("late", 6, "api"),  # after every file entry, as it was
        ]
        # p1-major, now behind standard, is never reached (vip takes its ceo incidents, standard the rest)
        assert rank_warning_codes(listed[4]) == [("shadowed", ["vip", "standard"])]
        assert rank_warning_codes(listed[5]) == [
            ("shadowed", ["vip", "p2-major", "vpn-fast-track", "standard"])
        ]
        assert never_reached(logged.records) == ["p1-major", "late"]  # and the start said so


async def test_a_bad_name_in_the_path_of_a_replace_is_a_422_naming_it(deployment: Deployment) -> None:
    async with deployment.started() as router:
        spec = {"priorities": ["P1"], "ladder": LADDER}
        for path in ("/v1/escalation-policies/a%20b", "/v1/queues/bad!name"):
            body = spec if "policies" in path else {"tier": "L2"}
            refused = problem_answer(await router.http.put(path, json=body), 422)
            assert [e["field"] for e in refused["errors"]] == ["name"], refused
