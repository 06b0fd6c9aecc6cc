"""Schemathesis against intake's own OpenAPI, on the real PostgreSQL and Kafka.

Every operation is fuzzed (schema examples, coverage cases, then generated valid and invalid
requests) with the bootstrap admin key. Properties: no 5xx, and every 4xx is problem+json, except
PagerDuty's own 400 body on /v2/enqueue.

The app is started once for the module inside a Starlette TestClient (which runs its lifespan);
schemathesis sends through a requests session whose adapter hands each prepared request to that
client, so the app runs in-process and schemathesis never starts a lifespan of its own.
Random ids mostly reach the 404 path, so a request whose path names an incident, problem, API key
or integration is sent a second time naming one that exists, to reach the code behind the lookup.
"""

from __future__ import annotations

import contextvars
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import structlog
import urllib3
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error

from tierline_intake.bootstrap import create_app
from tierline_intake.config import Settings
from tierline_shared import migrations

pytestmark = [
    pytest.mark.integration,
    # Hypothesis notices the app's own threads (Kafka clients, retries) using `random` while it draws.
    pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies"),
]
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
ADMIN_KEY = "tl_test-admin-key-for-intake-openapi-fuzz"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
BASE_URL = "http://testserver"
PROBLEM_JSON = "application/problem+json"
# (method, path template, status) whose 4xx body is not problem+json by design.
NOT_PROBLEM_JSON = {("POST", "/v2/enqueue", 400)}  # PagerDuty's {"status": "invalid event", ...}

# Operations skipped until their bug is fixed: remove an entry once its fix lands.
KNOWN_BUGS: dict[str, str] = {}  # operation -> why it is skipped; empty: everything is fuzzed


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bootstrap_api_key": ADMIN_KEY,
        "config_dir": CONFIG_DIR,
        "rate_limit_per_minute": 1_000_000,  # fuzzing must not be throttled
        **overrides,
    }
    return Settings(**values)


def _served_openapi() -> dict[str, Any]:
    """The document intake serves at /openapi.json, read without a lifespan (so no servers needed).

    This runs while pytest collects, so the logging that create_app sets up is put back afterwards.
    """
    root = logging.getLogger()
    handlers, level, structlog_config = root.handlers[:], root.level, structlog.get_config()
    settings = _settings(
        database_url="postgresql+asyncpg://unused@127.0.0.1:1/unused", kafka_bootstrap_servers="127.0.0.1:1"
    )
    try:
        app = contextvars.copy_context().run(create_app, settings)
        response = TestClient(app).get("/openapi.json")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**structlog_config)
    response.raise_for_status()
    return response.json()


# Loaded at import, so that pytest collects one test per operation.
OPENAPI = _served_openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)
schema.config.update(headers=AUTH)


class _TestClientAdapter(requests.adapters.HTTPAdapter):
    """A requests transport that answers from a Starlette TestClient instead of a socket."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        answer = self.client.request(
            str(request.method),
            str(request.url),
            # latin-1 bytes, the octets on the wire (TestClient passes non-ASCII ones on as UTF-8)
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
            content=body,
            follow_redirects=False,
        )
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=list(answer.headers.multi_items()),
            status=answer.status_code,
            reason=answer.reason_phrase,
            version=11,
            preload_content=False,
            decode_content=False,  # httpx has decoded it already
            request_method=request.method,
        )
        return self.build_response(request, raw)


class Api(requests.Session):
    """The running app, reached through requests, and ids of resources that exist in it."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.mount("http://", _TestClientAdapter(client))
        self.existing: dict[str, str] = {}


def _created(client: TestClient, path: str, body: dict[str, Any], field: str = "id") -> str:
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return str(response.json()[field])


@pytest.fixture(scope="module")
def api(infra, new_database) -> Iterator[Api]:
    url = new_database("intake")
    migrations.upgrade(MIGRATIONS, url)
    app = create_app(_settings(database_url=url, kafka_bootstrap_servers=infra.bootstrap_servers))
    # raise_server_exceptions=False: an unhandled error comes back as the 500 a client would get
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
        assert client.get("/openapi.json").json() == OPENAPI, "the schema under test is not the one served"
        session = Api(client)
        integration = {"name": "fuzz", "service": "vpn"}
        session.existing = {
            "incident_id": _created(
                client,
                "/v1/incidents",
                {
                    "title": "VPN down",
                    "service": "vpn",
                    "category": "network",
                    "impact": "high",
                    "urgency": "high",
                    "channel": "web",
                    "reporter": "alice@example.com",
                },
            ),
            "problem_id": _created(client, "/v1/problems", {"title": "VPN firmware leaks sessions"}),
            "key_id": _created(client, "/v1/api-keys", {"name": "fuzz", "scopes": ["incidents:read"]}),
            "integration_key": _created(
                client, "/v1/integrations", {**integration, "type": "alertmanager"}, field="key"
            ),
            # a second integration, so that revoking it leaves the Alertmanager one working
            "integration_id": _created(client, "/v1/integrations", {**integration, "type": "pagerduty"}),
        }
        yield session


def problem_json_for_client_errors(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx is RFC 9457 problem+json (bar the documented PagerDuty exception)."""
    if not 400 <= response.status_code < 500:
        return None
    if (case.method.upper(), case.path, response.status_code) in NOT_PROBLEM_JSON:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"{response.status_code} answered with content-type {content_type!r}, not {PROBLEM_JSON}"
    )
    return None


CHECKS = [not_a_server_error, problem_json_for_client_errors]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
def test_no_server_errors_and_problem_json(case: Case, api: Api) -> None:
    operation = case.operation.label
    if operation in KNOWN_BUGS:
        pytest.skip(f"known bug: {KNOWN_BUGS[operation]}")
    declared = OPENAPI["paths"][case.operation.path][case.operation.method.lower()]
    if "requestBody" in declared and not list(case.operation.body):
        pytest.fail(f"{operation} declares a request body schemathesis cannot generate (unresolvable $ref?)")
    case.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
    existing = {name: api.existing[name] for name in case.path_parameters or {} if name in api.existing}
    if existing:
        twin = case.derive(keep_auth=True)
        twin.path_parameters = {**case.path_parameters, **existing}
        twin.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
