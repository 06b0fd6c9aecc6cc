"""Schemathesis against the router's own OpenAPI, on the real PostgreSQL and Kafka.

Every operation is fuzzed (schema examples, coverage cases, then generated valid and invalid
requests) with the bootstrap admin key. Properties: no 5xx, and every 4xx is problem+json.

The app is started once for the module inside a Starlette TestClient (which runs its lifespan);
schemathesis sends through a requests session whose adapter hands each prepared request to that
client, so the app runs in-process and schemathesis never starts a lifespan of its own.
Random ids and names mostly reach the 404 path, so a request whose path names an incident or a
catalog entry is sent a second time naming one that exists: an incident routed to the desk, and
"desk", the name of an agent, a queue and an escalation policy alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from tests.support.fuzz import Api, Fuzzed, call_and_twin
from tierline_router.bootstrap import create_app
from tierline_router.config import Settings
from tierline_router.service_layer import placement
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared import migrations
from tierline_shared.testing import check_fuzzable, fuzz_marks, fuzz_settings, problem_json_check

from .conftest import MIGRATIONS, created

pytestmark = fuzz_marks()
# "desk" is an agent, a queue and a policy, so a fuzzed {name} reaches each one's code.
POLICY: dict[str, Any] = {
    "agents": [
        {"name": "desk", "capacity": 5},
        {"name": "bob", "capacity": 5},
        {"name": "cat", "capacity": 5},
    ],
    "queues": [
        {"name": "desk", "tier": "L1", "agents": ["desk"]},
        {"name": "tech", "tier": "L2", "agents": ["bob"]},
        {"name": "experts", "tier": "L3", "agents": ["cat"]},
    ],
    "escalation_policies": [
        {
            "name": "desk",
            "priorities": ["P1", "P2"],
            "ladder": [{"tier": "L1", "budget": "4h"}, {"tier": "L2"}],
        },
        {"name": "rest", "ladder": [{"tier": "L1", "budget": "8h"}, {"tier": "L2"}, {"tier": "L3"}]},
    ],
}

# Operations skipped until their bug is fixed: remove an entry once its fix lands.
KNOWN_BUGS: dict[str, str] = {}


def _write_config(config_dir: Path) -> None:
    (config_dir / "router.yaml").write_text(yaml.safe_dump(POLICY))


FUZZED = Fuzzed(create_app, Settings, "tl_test-admin-key-for-router-openapi-fuzz", write_config=_write_config)
# Loaded at import, so that pytest collects one test per operation.
OPENAPI = FUZZED.served_openapi()
schema = FUZZED.schema(OPENAPI)


def _routed(client: TestClient) -> str:
    """An incident the router has placed (as its consumer places one): its id."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    deps = runtime.state["deps"]
    event = created(priority="P1")

    async def route() -> None:
        async with runtime.unit_of_work() as session:
            await placement.assign_new_incident(RouterUnitOfWork(session, deps.outbox), deps, event)

    client.portal.call(route)  # type: ignore[union-attr]
    return str(event.incident_id)


@pytest.fixture(scope="module")
def api(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = new_database("router")
    migrations.upgrade(MIGRATIONS, url)
    config_dir = tmp_path_factory.mktemp("router-fuzz-config")
    with FUZZED.running(OPENAPI, infra=infra, database_url=url, config_dir=config_dir) as client:
        session = Api(client)
        session.existing = {"incident_id": _routed(client), "name": "desk"}
        yield session


CHECKS = [not_a_server_error, problem_json_check()]


@schema.parametrize()
@fuzz_settings()
def test_no_server_errors_and_problem_json(case: Case, api: Api) -> None:
    check_fuzzable(case, OPENAPI, KNOWN_BUGS)
    call_and_twin(case, api, CHECKS)
