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

import functools
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from fastapi.testclient import TestClient
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from tierline_router.bootstrap import create_app
from tierline_router.config import Settings
from tierline_router.service_layer import placement
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared import migrations
from tierline_shared.testing import (
    check_fuzzable,
    fuzz_marks,
    fuzz_settings,
    in_process_adapter,
    naming_existing,
    problem_json_check,
    served_openapi,
)

from .conftest import MIGRATIONS, created

pytestmark = fuzz_marks()
ADMIN_KEY = "tl_test-admin-key-for-router-openapi-fuzz"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
BASE_URL = "http://testserver"
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


def _settings(config_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bootstrap_api_key": ADMIN_KEY,
        "config_dir": config_dir,
        "rate_limit_per_minute": 1_000_000,  # fuzzing must not be throttled
        **overrides,
    }
    return Settings(**values)


def _write_config(config_dir: Path) -> Path:
    (config_dir / "router.yaml").write_text(yaml.safe_dump(POLICY))
    return config_dir


def _served_openapi() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="router-fuzz-") as config_dir:
        return served_openapi(create_app, functools.partial(_settings, _write_config(Path(config_dir))))


# Loaded at import, so that pytest collects one test per operation.
OPENAPI = _served_openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.update(headers=AUTH)


class Api(requests.Session):
    """The running app, reached through requests, and ids of resources that exist in it."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.mount("http://", in_process_adapter(client))
        self.existing: dict[str, str] = {}


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
    settings = _settings(
        _write_config(tmp_path_factory.mktemp("router-fuzz-config")),
        database_url=url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        kafka_topic_prefix=f"t-{uuid.uuid4().hex[:8]}.",
    )
    # raise_server_exceptions=False: an unhandled error comes back as the 500 a client would get
    with TestClient(create_app(settings), base_url=BASE_URL, raise_server_exceptions=False) as client:
        assert client.get("/openapi.json").json() == OPENAPI, "the schema under test is not the one served"
        session = Api(client)
        session.existing = {"incident_id": _routed(client), "name": "desk"}
        yield session


CHECKS = [not_a_server_error, problem_json_check()]


@schema.parametrize()
@fuzz_settings()
def test_no_server_errors_and_problem_json(case: Case, api: Api) -> None:
    check_fuzzable(case, OPENAPI, KNOWN_BUGS)
    case.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
    if (twin := naming_existing(case, api.existing)) is not None:
        twin.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
