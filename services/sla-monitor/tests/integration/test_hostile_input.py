"""Hostile HTTP input on the SLA monitor, served by uvicorn on the real PostgreSQL and Kafka: each
case of tests/support/hostile.py gets a 4xx problem+json naming the field and reason (or, where
uvicorn's own parser refuses the request, uvicorn's plain 4xx), never a 5xx, and the monitor answers
a normal request right after.

Writes: adding an SLA policy (a name; its response target takes a number of seconds) and a business
calendar (a name). Its query parameters are all typed (the compliance report's ``from``, ``to`` and
``group_by``), so SQL-looking values there must be 422 naming the parameter; free-text values go
where it looks names up: GET /v1/sla/policies/{name}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support import hostile
from tierline_sla_monitor.bootstrap import create_app
from tierline_sla_monitor.config import Settings

from .conftest import API_POLICY_FILE, MIGRATIONS

pytestmark = pytest.mark.integration
ADMIN_KEY = "tl_test-admin-key-for-sla-hostile-input"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def monitor(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hostile.Target]:
    with hostile.service(
        create_app,
        Settings,
        infra=infra,
        database_url=new_database("sla"),
        migrations_dir=MIGRATIONS,
        config_dir=tmp_path_factory.mktemp("sla-hostile"),
        admin_key=ADMIN_KEY,
        config_files={"sla.yaml": API_POLICY_FILE},
    ) as served:
        yield hostile.Target(
            name="sla-monitor",
            url=served.url,
            auth=AUTH,
            writes=(
                hostile.Write(
                    "POST",
                    "/v1/sla/policies",
                    {"name": "vip", "priorities": ["P1"], "response": 900, "resolution": "4h"},
                    string_field="name",
                    number_field="response",
                ),
                hostile.Write(
                    "POST",
                    "/v1/sla/calendars",
                    {"name": "night", "timezone": "UTC", "hours": {"mon": ["00:00-06:00"]}},
                    string_field="name",
                ),
            ),
            listing="/v1/sla/policies",
            lookup="/v1/sla/policies/{}",
            filtered="/v1/sla/compliance",
            typed_filters=("from", "to", "group_by"),
            rows=lambda answer: answer,
        )


@hostile.cases()
def test_hostile_input_is_refused_with_a_problem(
    case: Callable[[hostile.Target, httpx.Client], None], monitor: hostile.Target
) -> None:
    hostile.run(case, monitor)
