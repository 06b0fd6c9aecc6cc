"""Dedup as a property: whatever the order of reports and resolutions, one open incident per key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierline_intake.bootstrap import create_app
from tierline_intake.config import Settings
from tierline_shared import migrations
from tierline_shared.testing import query_value

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
ADMIN_KEY = "tl_test-admin-key-for-dedup-properties"
BASE = {
    "title": "Disk full",
    "service": "db",
    "category": "storage",
    "impact": "medium",
    "urgency": "high",
    "channel": "monitoring",
    "reporter": "zabbix",
}


@pytest.fixture(scope="module")
def client(infra, new_database) -> Iterator[TestClient]:
    url = new_database("intake_dedup")
    migrations.upgrade(MIGRATIONS, url)
    app = create_app(
        Settings(
            database_url=url,
            kafka_bootstrap_servers=infra.bootstrap_servers,
            bootstrap_api_key=ADMIN_KEY,
            config_dir=CONFIG_DIR,
            rate_limit_per_minute=0,
        )
    )
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
        c.database_url = url  # type: ignore[attr-defined]
        yield c


steps = st.lists(
    st.tuples(st.sampled_from(["report", "resolve"]), st.integers(0, 2)), min_size=1, max_size=12
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
def test_one_open_incident_per_key_and_every_report_counted(client: TestClient, plan: list) -> None:
    run = uuid.uuid4().hex[:8]  # each example gets its own keys
    reports: dict[str, int] = {}
    expected_open: dict[str, str | None] = {}
    for action, k in plan:
        key = f"{run}-{k}"
        if action == "report":
            response = client.post("/v1/incidents", json={**BASE, "dedup_key": key})
            assert response.status_code in (200, 201), response.text
            incident = response.json()
            if expected_open.get(key):
                assert response.status_code == 200 and incident["id"] == expected_open[key]
            else:
                assert response.status_code == 201
                expected_open[key] = incident["id"]
            reports[key] = reports.get(key, 0) + 1
        elif expected_open.get(key):
            assert client.post(f"/v1/incidents/{expected_open[key]}/resolve").status_code == 200
            expected_open[key] = None
    for k in range(3):
        key = f"{run}-{k}"
        open_count = query_value(
            client.database_url,  # type: ignore[attr-defined]
            f"SELECT count(*) FROM incidents WHERE dedup_key = '{key}'"
            " AND status IN ('open', 'acknowledged', 'on_hold')",
        )
        assert open_count == (1 if expected_open.get(key) else 0)
        counted = query_value(
            client.database_url,  # type: ignore[attr-defined]
            f"SELECT coalesce(sum(occurrences), 0) FROM incidents WHERE dedup_key = '{key}'",
        )
        assert counted == reports.get(key, 0)
