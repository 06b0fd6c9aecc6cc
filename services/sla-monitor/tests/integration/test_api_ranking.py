"""Where API-made SLA policies land in the match order, and what survives a restart.

Each test runs the real SLA monitor app on its own PostgreSQL database with a policy file of one
policy per priority (p1-p4), starting it again on the same database to see the file applied once more.
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

from tierline_shared import migrations
from tierline_shared.clock import FixedClock
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
from tierline_sla_monitor.bootstrap import create_app
from tierline_sla_monitor.config import Settings
from tierline_sla_monitor.service_layer import clocks

pytestmark = pytest.mark.integration

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
ADMIN_KEY = "tl_test-admin-key-for-sla-ranking-tests"
PROBLEM_JSON = "application/problem+json"
PRIORITIES = ("P1", "P2", "P3", "P4")
POLICY_FILE: dict[str, Any] = {
    "policies": [
        {"name": p.lower(), "priorities": [p], "response": "1h", "resolution": "8h"} for p in PRIORITIES
    ]
}
GOLD = {"name": "gold", "priorities": ["P2"], "customers": ["acme"], "response": "10m", "resolution": "2h"}
GOLD_SPEC = {k: v for k, v in GOLD.items() if k != "name"}
POLICIES = "/v1/sla/policies"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # the app's clock stands still: no clock falls due


@dataclass
class Monitor:
    http: httpx.AsyncClient
    runtime: Runtime

    async def policy_for(self, priority: str, customer: str | None) -> str:
        """The policy a new incident's clocks run under, started by the app's own use case."""
        event = IncidentCreated(
            incident_id=uuid.uuid4(),
            title="VPN down",
            service="vpn",
            category="network",
            customer=customer,
            priority=priority,
            channel="api",
            reporter="r@example.com",
            created_at=self.runtime.clock.now(),
        )
        deps = self.runtime.state["deps"]
        async with self.runtime.unit_of_work() as session:
            await clocks.start_incident_clocks(clocks.SlaUnitOfWork(session, deps.outbox), deps, event)
        running = answer(
            await self.http.get("/v1/sla/clocks", params={"incident_id": str(event.incident_id)})
        )
        return {c["policy"] for c in running}.pop()

    async def order(self) -> list[tuple[str, int]]:
        return [(p["name"], p["rank"]) for p in answer(await self.http.get(POLICIES))]


@dataclass
class Deployment:
    """The monitor's database and config folder, and a way to start (and start again) the app on them."""

    infra: Any
    url: str
    config_dir: Path

    def write_file(self, policy: dict[str, Any]) -> None:
        (self.config_dir / "sla.yaml").write_text(yaml.safe_dump(policy))

    @asynccontextmanager
    async def started(self) -> AsyncIterator[Monitor]:
        settings = app_settings(Settings, self.infra, self.url, self.config_dir, api_key=ADMIN_KEY)
        app = create_app(settings, clock=FixedClock(NOW))
        async with app_client(app, ADMIN_KEY, base_url="http://sla.test") as http:
            yield Monitor(http, app.state.runtime)


@pytest.fixture
def deployment(infra, new_database, tmp_path: Path) -> Deployment:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url)
    deployed = Deployment(infra, url, tmp_path)
    deployed.write_file(POLICY_FILE)
    return deployed


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, on the service's own logger: starting the app replaces the root logger's handlers."""
    logger = logging.getLogger("tierline_sla_monitor")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


async def test_a_policy_made_without_a_position_is_warned_it_is_never_reached_until_placed(
    deployment: Deployment,
) -> None:
    async with deployment.started() as monitor:
        made = answer(await monitor.http.post(POLICIES, json=GOLD), 201)
        assert (made["rank"], rank_warning_codes(made)) == (5, [("placed_last", []), ("shadowed", ["p2"])])
        assert (
            "every incident it matches is taken first by 'p2' (rank 2)" in made["rank_warnings"][1]["detail"]
        )
        assert await monitor.policy_for("P2", "acme") == "p2"

        moved = answer(await monitor.http.put(f"{POLICIES}/gold", json={**GOLD_SPEC, "before": "p2"}))
        assert (moved["rank"], moved["rank_warnings"]) == (2, [])
        assert await monitor.order() == [("p1", 1), ("gold", 2), ("p2", 3), ("p3", 4), ("p4", 5)]
        assert await monitor.policy_for("P2", "acme") == "gold"
        assert await monitor.policy_for("P2", None) == "p2"


async def test_policies_go_to_a_rank_or_next_to_another_and_bad_positions_are_refused(
    deployment: Deployment,
) -> None:
    async with deployment.started() as monitor:
        assert answer(await monitor.http.post(POLICIES, json={**GOLD, "rank": 1}), 201)["rank"] == 1
        silver = {**GOLD, "name": "silver", "customers": ["initech"], "after": "gold"}
        assert answer(await monitor.http.post(POLICIES, json=silver), 201)["rank"] == 2
        assert await monitor.order() == [
            ("gold", 1),
            ("silver", 2),
            ("p1", 3),
            ("p2", 4),
            ("p3", 5),
            ("p4", 6),
        ]

        for body, field, reason in [
            ({"before": "nope"}, "before", "no SLA policy named 'nope'"),
            ({"rank": 8}, "rank", "must be from 1 (first) to 7 (last)"),
            ({"rank": 0}, "rank", "Input should be greater than or equal to 1"),
        ]:
            refused = problem_answer(
                await monitor.http.post(POLICIES, json={**GOLD, "name": "x", **body}), 422
            )
            assert [(e["field"], e["reason"][: len(reason)]) for e in refused["errors"]] == [(field, reason)]
        both = problem_answer(
            await monitor.http.put(f"{POLICIES}/gold", json={**GOLD_SPEC, "rank": 2, "before": "p1"}), 422
        )
        assert [e["field"] for e in both["errors"]] == ["rank", "before"]
        itself = problem_answer(
            await monitor.http.put(f"{POLICIES}/gold", json={**GOLD_SPEC, "before": "gold"}), 422
        )
        assert itself["errors"][0]["field"] == "before"
        problem_answer(await monitor.http.get(f"{POLICIES}/x"), 404)

        catch_all = answer(
            await monitor.http.post(POLICIES, json={"name": "any", "response": "1h", "resolution": "1d"}), 201
        )
        # never reached: the per-priority policies take its incidents (gold and silver some P2 ones)
        assert rank_warning_codes(catch_all) == [
            ("placed_last", []),
            ("shadowed", ["gold", "silver", "p1", "p2", "p3", "p4"]),
        ]
        first = answer(
            await monitor.http.put(f"{POLICIES}/any", json={"response": "1h", "resolution": "1d", "rank": 1})
        )
        assert rank_warning_codes(first) == [("shadows", ["gold", "silver", "p1", "p2", "p3", "p4"])]
        assert (await monitor.http.delete(f"{POLICIES}/any")).status_code == 204
        assert [r for _, r in await monitor.order()] == [1, 2, 3, 4, 5, 6]


async def test_a_restart_applies_the_file_again_without_moving_what_the_api_placed(
    deployment: Deployment, logged: pytest.LogCaptureFixture
) -> None:
    async with deployment.started() as monitor:
        answer(await monitor.http.post(POLICIES, json={**GOLD, "before": "p2"}), 201)
        vip = {**GOLD, "name": "vip", "priorities": ["P1"], "customers": ["ceo"], "rank": 1}
        answer(await monitor.http.post(POLICIES, json=vip), 201)
        answer(
            await monitor.http.post(POLICIES, json={"name": "any", "response": "1h", "resolution": "1d"}), 201
        )
        placed = await monitor.order()
        assert [name for name, _ in placed] == ["vip", "p1", "gold", "p2", "p3", "p4", "any"]

    async with deployment.started() as monitor:  # the same file, applied again
        assert await monitor.order() == placed
        assert await monitor.policy_for("P2", "acme") == "gold"

    # the file changes: a new p2-erp first, p1 after p4, p3 dropped (it stays, unfiled), a catch-all last
    deployment.write_file(
        {
            "policies": [
                {
                    "name": "p2-erp",
                    "priorities": ["P2"],
                    "services": ["erp"],
                    "response": "1h",
                    "resolution": "8h",
                },
                {"name": "p2", "priorities": ["P2"], "response": "1h", "resolution": "8h"},
                {"name": "p4", "priorities": ["P4"], "response": "1h", "resolution": "8h"},
                {"name": "p1", "priorities": ["P1"], "response": "1h", "resolution": "8h"},
                {"name": "rest", "response": "4h", "resolution": "1d"},
            ]
        }
    )
    logged.clear()
    async with deployment.started() as monitor:
        listed = answer(await monitor.http.get(POLICIES))
        assert [(p["name"], p["rank"], p["managed_by"]) for p in listed] == [
            ("vip", 1, "api"),  # in front of every file policy: stays first
            ("p2-erp", 2, "config"),
            ("gold", 3, "api"),  # still right in front of p2
            ("p2", 4, "config"),
            ("p3", 5, "config"),  # dropped from the file: stays in front of p4, as it was
            ("p4", 6, "config"),
            ("p1", 7, "config"),
            ("rest", 8, "config"),
            ("any", 9, "api"),  # after every file policy, as it was
        ]
        # rest and any are never reached: the per-priority policies above take every incident
        shadowed = ["vip", "p2-erp", "gold", "p2", "p3", "p4", "p1"]
        assert [rank_warning_codes(p) for p in listed[7:]] == [
            [("shadowed", shadowed)],
            [("shadowed", shadowed)],
        ]
        assert never_reached(logged.records) == ["rest", "any"]  # and the start said so
        assert await monitor.policy_for("P2", "acme") == "gold"
