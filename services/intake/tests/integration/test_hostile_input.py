"""Hostile HTTP input on intake, served by uvicorn on the real PostgreSQL and Kafka: each case of
tests/support/hostile.py gets a 4xx problem+json naming the field and reason (or, where uvicorn's
own parser refuses the request, uvicorn's plain 4xx), never a 5xx, and intake answers a normal
request right after.

Writes: creating an incident (strings only), a problem, and a CSAT score (a number) for an incident
that does not exist — validation answers before the lookup. The listing is GET /v1/incidents with
one incident in it, so a filter value that matched everything would show.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support import hostile
from tierline_intake.bootstrap import create_app
from tierline_intake.config import Settings

from .conftest import ADMIN_KEY, CONFIG_DIR, MIGRATIONS

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
INCIDENT = {
    "title": "VPN down",
    "service": "vpn",
    "category": "network",
    "impact": "high",
    "urgency": "high",
    "channel": "web",
    "reporter": "alice@example.com",
}


@pytest.fixture(scope="module")
def intake(infra, new_database) -> Iterator[hostile.Target]:
    with hostile.service(
        create_app,
        Settings,
        infra=infra,
        database_url=new_database("intake"),
        migrations_dir=MIGRATIONS,
        config_dir=CONFIG_DIR,
        admin_key=ADMIN_KEY,
    ) as served:
        base = served.url
        created = httpx.post(f"{base}/v1/incidents", json=INCIDENT, headers=AUTH, timeout=30)
        assert created.status_code == 201, created.text
        yield hostile.Target(
            name="intake",
            url=base,
            auth=AUTH,
            writes=(
                hostile.Write("POST", "/v1/incidents", INCIDENT, string_field="title"),
                hostile.Write("POST", "/v1/problems", {"title": "VPN firmware"}, string_field="title"),
                hostile.Write(
                    "POST",
                    f"/v1/incidents/{uuid.uuid4()}/csat",
                    {"score": 5, "comment": "quick"},
                    string_field="comment",
                    number_field="score",
                ),
            ),
            listing="/v1/incidents",
            lookup="/v1/incidents/{}",
            text_filters=("service", "category", "product", "customer", "channel"),
            typed_filters=("status", "priority", "tier", "problem_id", "created_since", "limit", "cursor"),
        )


@hostile.cases()
def test_hostile_input_is_refused_with_a_problem(
    case: Callable[[hostile.Target, httpx.Client], None], intake: hostile.Target
) -> None:
    hostile.run(case, intake)
