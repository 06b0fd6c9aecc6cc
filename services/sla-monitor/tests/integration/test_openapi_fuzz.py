"""Schemathesis against the SLA monitor's own OpenAPI, on the real PostgreSQL and Kafka.

Every operation is fuzzed (schema examples, coverage cases, then generated valid and invalid
requests) with the bootstrap admin key. Properties: no 5xx, and every 4xx is problem+json.

The app is started once for the module inside a Starlette TestClient (which runs its lifespan);
schemathesis sends through a requests session whose adapter hands each prepared request to that
client, so the app runs in-process and schemathesis never starts a lifespan of its own.
Random names mostly reach the 404 path, so a request whose path names a policy or a calendar is
sent a second time naming one that exists ("p3", and the calendar "office" it runs on).
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
from tierline_sla_monitor.bootstrap import create_app
from tierline_sla_monitor.config import Settings

from .conftest import API_POLICY_FILE, MIGRATIONS

pytestmark = fuzz_marks()
ADMIN_KEY = "tl_test-admin-key-for-sla-monitor-openapi-fuzz"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
BASE_URL = "http://testserver"

# Operations skipped until their bug is fixed: remove an entry once its fix lands.
KNOWN_BUGS: dict[str, str] = {}  # operation -> why it is skipped; empty: everything is fuzzed


def _settings(config_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bootstrap_api_key": ADMIN_KEY,
        "config_dir": config_dir,
        "rate_limit_per_minute": 1_000_000,  # fuzzing must not be throttled
        **overrides,
    }
    return Settings(**values)


def _write_config(config_dir: Path) -> Path:
    (config_dir / "sla.yaml").write_text(yaml.safe_dump(API_POLICY_FILE))
    return config_dir


def _served_openapi() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sla-monitor-fuzz-") as config_dir:
        return served_openapi(create_app, functools.partial(_settings, _write_config(Path(config_dir))))


# Loaded at import, so that pytest collects one test per operation.
OPENAPI = _served_openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.update(headers=AUTH)


class Api(requests.Session):
    """The running app, reached through requests."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.mount("http://", in_process_adapter(client))


@pytest.fixture(scope="module")
def api(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url)
    settings = _settings(
        _write_config(tmp_path_factory.mktemp("sla-monitor-fuzz-config")),
        database_url=url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        kafka_topic_prefix=f"t-{uuid.uuid4().hex[:8]}.",
    )
    # raise_server_exceptions=False: an unhandled error comes back as the 500 a client would get
    with TestClient(create_app(settings), base_url=BASE_URL, raise_server_exceptions=False) as client:
        assert client.get("/openapi.json").json() == OPENAPI, "the schema under test is not the one served"
        yield Api(client)


CHECKS = [not_a_server_error, problem_json_check()]


@schema.parametrize()
@fuzz_settings()
def test_no_server_errors_and_problem_json(case: Case, api: Api) -> None:
    check_fuzzable(case, OPENAPI, KNOWN_BUGS)
    case.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
    existing = {"name": "office" if "/calendars" in case.path else "p3"}
    if (twin := naming_existing(case, existing)) is not None:
        twin.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
