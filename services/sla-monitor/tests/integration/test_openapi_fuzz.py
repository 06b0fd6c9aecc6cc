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

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from tests.support.fuzz import Api, Fuzzed, call_and_twin
from tierline_shared import migrations
from tierline_shared.testing import check_fuzzable, fuzz_marks, fuzz_settings, problem_json_check
from tierline_sla_monitor.bootstrap import create_app
from tierline_sla_monitor.config import Settings

from .conftest import API_POLICY_FILE, MIGRATIONS

pytestmark = fuzz_marks()

# Operations skipped until their bug is fixed: remove an entry once its fix lands.
KNOWN_BUGS: dict[str, str] = {}  # operation -> why it is skipped; empty: everything is fuzzed


def _write_config(config_dir: Path) -> None:
    (config_dir / "sla.yaml").write_text(yaml.safe_dump(API_POLICY_FILE))


FUZZED = Fuzzed(
    create_app, Settings, "tl_test-admin-key-for-sla-monitor-openapi-fuzz", write_config=_write_config
)
# Loaded at import, so that pytest collects one test per operation.
OPENAPI = FUZZED.served_openapi()
schema = FUZZED.schema(OPENAPI)


@pytest.fixture(scope="module")
def api(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = new_database("sla")
    migrations.upgrade(MIGRATIONS, url)
    config_dir = tmp_path_factory.mktemp("sla-monitor-fuzz-config")
    with FUZZED.running(OPENAPI, infra=infra, database_url=url, config_dir=config_dir) as client:
        yield Api(client)


CHECKS = [not_a_server_error, problem_json_check()]


@schema.parametrize()
@fuzz_settings()
def test_no_server_errors_and_problem_json(case: Case, api: Api) -> None:
    check_fuzzable(case, OPENAPI, KNOWN_BUGS)
    call_and_twin(case, api, CHECKS, existing={"name": "office" if "/calendars" in case.path else "p3"})
