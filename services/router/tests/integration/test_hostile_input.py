"""Hostile HTTP input on the router, served by uvicorn on the real PostgreSQL and Kafka: each case of
tests/support/hostile.py gets a 4xx problem+json naming the field and reason (or, where uvicorn's
own parser refuses the request, uvicorn's plain 4xx), never a 5xx, and the router answers a normal
request right after.

Writes: adding an agent (a name and a capacity, a number) and handing an incident that does not
exist back down (a note) — validation answers before the lookup. The router's lists take no filters,
so SQL-looking and LIKE-pattern values go where it looks names up: GET /v1/agents/{name}.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support import hostile
from tierline_router.bootstrap import create_app
from tierline_router.config import Settings

from .conftest import MIGRATIONS

pytestmark = pytest.mark.integration
ADMIN_KEY = "tl_test-admin-key-for-router-hostile-input"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
POLICY: dict[str, Any] = {
    "agents": [
        {"name": "ann", "capacity": 2},
        {"name": "bob", "capacity": 2},
        {"name": "cat", "capacity": 2},
    ],
    "queues": [
        {"name": "desk", "tier": "L1", "agents": ["ann"]},
        {"name": "tech", "tier": "L2", "agents": ["bob"]},
        {"name": "experts", "tier": "L3", "agents": ["cat"]},
    ],
    "escalation_policies": [
        {"name": "all", "ladder": [{"tier": "L1", "budget": "4h"}, {"tier": "L2"}, {"tier": "L3"}]}
    ],
}


@pytest.fixture(scope="module")
def router(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hostile.Target]:
    with hostile.service(
        create_app,
        Settings,
        infra=infra,
        database_url=new_database("router"),
        migrations_dir=MIGRATIONS,
        config_dir=tmp_path_factory.mktemp("router-hostile"),
        admin_key=ADMIN_KEY,
        config_files={"router.yaml": POLICY},
    ) as served:
        yield hostile.Target(
            name="router",
            url=served.url,
            auth=AUTH,
            writes=(
                hostile.Write(
                    "POST",
                    "/v1/agents",
                    {"name": "dave", "skills": ["network"], "capacity": 5},
                    string_field="name",
                    number_field="capacity",
                ),
                hostile.Write(
                    "POST",
                    f"/v1/incidents/{uuid.uuid4()}/de-escalate",
                    {"to_tier": "L1", "note": "the desk can finish"},
                    string_field="note",
                ),
            ),
            listing="/v1/agents",
            lookup="/v1/agents/{}",
            rows=lambda answer: answer,
        )


@hostile.cases()
def test_hostile_input_is_refused_with_a_problem(
    case: Callable[[hostile.Target, httpx.Client], None], router: hostile.Target
) -> None:
    hostile.run(case, router)
