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

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error

from tests.support.fuzz import Api, Fuzzed, call_and_twin
from tierline_intake.bootstrap import create_app
from tierline_intake.config import Settings
from tierline_shared import migrations
from tierline_shared.links import LinkClaim, LinkSigner
from tierline_shared.testing import check_fuzzable, fuzz_marks, fuzz_settings, problem_json_check

pytestmark = fuzz_marks()
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
FUZZED = Fuzzed(create_app, Settings, "tl_test-admin-key-for-intake-openapi-fuzz", config_dir=CONFIG_DIR)
LINKS = "/v1/links/{token}"
LINK_SECRET = "link-secret-of-the-openapi-fuzz"
# (method, path template, status) whose 4xx body is not problem+json by design.
NOT_PROBLEM_JSON = {
    ("POST", "/v2/enqueue", 400),  # PagerDuty's {"status": "invalid event", ...}
    # links answer people: an HTML page, unless JSON is asked for (checked by links_answer_pages)
    *((method, LINKS, status) for method in ("GET", "POST") for status in (400, 404, 409, 410, 415, 422)),
}

# Operations skipped until their bug is fixed: remove an entry once its fix lands.
KNOWN_BUGS: dict[str, str] = {}  # operation -> why it is skipped; empty: everything is fuzzed

# Loaded at import, so that pytest collects one test per operation.
OPENAPI = FUZZED.served_openapi()
schema = FUZZED.schema(OPENAPI)


@pytest.fixture(scope="module")
def api(infra, new_database) -> Iterator[Api]:
    url = new_database("intake")
    migrations.upgrade(MIGRATIONS, url)
    with FUZZED.running(OPENAPI, infra=infra, database_url=url, link_secret=LINK_SECRET) as client:
        session = Api(client)
        integration = {"name": "fuzz", "service": "vpn"}
        session.existing = {
            "incident_id": FUZZED.created(
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
            "problem_id": FUZZED.created(client, "/v1/problems", {"title": "VPN firmware leaks sessions"}),
            "key_id": FUZZED.created(client, "/v1/api-keys", {"name": "fuzz", "scopes": ["incidents:read"]}),
            "integration_key": FUZZED.created(
                client, "/v1/integrations", {**integration, "type": "alertmanager"}, field="key"
            ),
            # a second integration, so that revoking it leaves the Alertmanager one working
            "integration_id": FUZZED.created(
                client, "/v1/integrations", {**integration, "type": "pagerduty"}
            ),
        }
        # a genuine acknowledge link for that incident, so that the links' code past the signature runs
        claim = LinkClaim.new(
            "acknowledge",
            uuid.UUID(session.existing["incident_id"]),
            "fuzz",
            now=datetime.now(UTC),
            ttl=timedelta(hours=1),
        )
        session.existing["token"] = LinkSigner([LINK_SECRET]).sign(claim)
        yield session


def links_answer_pages(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A link's refusal is an HTML page for people, or problem+json for a program."""
    if case.path != LINKS or not 400 <= response.status_code < 500:
        return None
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    assert content_type in ("text/html", "application/problem+json"), (
        f"{response.status_code} answered with content-type {content_type!r}"
    )
    return None


# Every 4xx is RFC 9457 problem+json (bar the documented PagerDuty and links exceptions).
CHECKS = [not_a_server_error, problem_json_check(exempt=NOT_PROBLEM_JSON), links_answer_pages]


@schema.parametrize()
@fuzz_settings()
def test_no_server_errors_and_problem_json(case: Case, api: Api) -> None:
    check_fuzzable(case, OPENAPI, KNOWN_BUGS)
    call_and_twin(case, api, CHECKS)
