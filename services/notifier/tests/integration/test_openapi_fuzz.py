"""Schemathesis against the notifier's own OpenAPI, on the real PostgreSQL and Kafka.

Every operation is fuzzed (schema examples, coverage cases, then generated valid and invalid
requests) with the bootstrap admin key. Properties: no 5xx, every 4xx is problem+json, and contact
URLs (which hold a chat room's or a webhook's token) never come out in any answer.

The app is started once for the module inside a Starlette TestClient (which runs its lifespan);
schemathesis sends through a requests session whose adapter hands each prepared request to that
client, so the app runs in-process and schemathesis never starts a lifespan of its own.
Random names and ids mostly reach the 404 path, so a request whose path names a person, a team or
a notification is sent a second time naming one that exists: "desk" is a person and a queue's team
alike, and the notification is one the seeded incident owed.

The directory holds chat contacts on an allow-listed loopback port where nothing listens, and the
SMTP server is a port where nothing listens either: one attempt each, so every message the seeded
incident (P1, assigned to "desk") owed is dead at once, its error text in the log the fuzzer reads.
The schema cannot say what a reachable contact looks like, so generated ones are almost never
valid: a PUT whose body has contacts or channels is sent once more with valid ones of each type in
their place (whose tokens must then never come out either), and once with one on a private host the
SSRF guard refuses (its token must not come out in the refusal).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error

from tests.support.fuzz import BASE_URL, Api, Fuzzed, call_and_twin
from tierline_launcher.procs import free_port
from tierline_notifier.bootstrap import create_app
from tierline_notifier.config import Settings
from tierline_notifier.service_layer import notify
from tierline_shared import migrations
from tierline_shared.events import Envelope, IncidentAssigned, IncidentCreated
from tierline_shared.testing import check_fuzzable, fuzz_marks, fuzz_settings, problem_json_check

from .conftest import MIGRATIONS, TEMPLATES

pytestmark = fuzz_marks()
DEAD = "127.0.0.1:9"  # allow-listed, nothing listens: a send fails at once ("connection refused")
# Each secret is the token in a contact URL: none may come out in an answer.
CONFIG_URLS = {
    "webhook": f"http://{DEAD}/hooks/fuzz-secret-desk-webhook-0a1b2c3d",
    "mattermost": f"http://{DEAD}/hooks/fuzzsecretdeskmattermost4e5f6a",
    "apprise": f"json://{DEAD}/fuzz-secret-room-apprise-7b8c9d",
}
# Valid contacts of each chat type put in place of generated ones (which are never valid).
VALID_URLS = {
    "slack": "https://hooks.slack.com/services/T0FUZZ000/B0FUZZ000/fuzzsecretslack0123456789",
    "mattermost": f"http://{DEAD}/hooks/fuzzsecretvalidmattermost0123",
    "teams": "https://tierline.webhook.office.com/webhookb2/11111111-1111-1111-1111-111111111111@"
    "22222222-2222-2222-2222-222222222222/IncomingWebhook/fuzzsecretteams0123456789abcdef/"
    "33333333-3333-3333-3333-333333333333/V2fuzzsecretteamsabcdefghijklmnopqrstuvwxyz012345",
    "webhook": f"http://{DEAD}/hook/fuzz-secret-valid-webhook-0123",
    "apprise": f"json://{DEAD}/fuzz-secret-valid-apprise-0123",
}
REFUSED_URL = "https://10.20.30.40/hooks/fuzz-secret-on-a-private-host-4567"  # not allow-listed
SECRETS = [url.rsplit("/", 1)[-1] for url in (*CONFIG_URLS.values(), *VALID_URLS.values(), REFUSED_URL)] + [
    "fuzzsecretteams0123456789abcdef"
]
DIRECTORY: dict[str, Any] = {
    "people": [
        {
            "name": "desk",
            "contacts": [
                {"name": "hook", "type": "webhook", "url": CONFIG_URLS["webhook"]},
                {"name": "room", "type": "apprise", "url": CONFIG_URLS["apprise"]},
                {"name": "work", "type": "email", "address": "desk@example.com"},
            ],
        },
        {"name": "lena", "contacts": [{"name": "work", "type": "email", "address": "lena@example.com"}]},
    ],
    "teams": [
        {
            "name": "desk",
            "lead": "lena",
            # not "room": one message per (event, recipient, contact), and the person "desk" has a "room"
            "channels": [{"name": "chat", "type": "mattermost", "url": CONFIG_URLS["mattermost"]}],
        }
    ],
    "delivery": {"schedule": ["0s"], "allow_hosts": ["127.0.0.1"]},
}
CONTACT_FIELDS = ("contacts", "channels")

# Operations skipped until their bug is fixed: remove an entry once its fix lands.
KNOWN_BUGS: dict[str, str] = {}  # operation -> why it is skipped; empty: everything is fuzzed


def _write_config(config_dir: Path) -> None:
    (config_dir / "notifications.yaml").write_text(yaml.safe_dump(DIRECTORY))
    shutil.copytree(TEMPLATES, config_dir / "templates", dirs_exist_ok=True)


FUZZED = Fuzzed(
    create_app, Settings, "tl_test-admin-key-for-notifier-openapi-fuzz", write_config=_write_config
)
AUTH = FUZZED.auth
# Loaded at import, so that pytest collects one test per operation.
OPENAPI = FUZZED.served_openapi()
schema = FUZZED.schema(OPENAPI)


def _seed(client: TestClient) -> uuid.UUID:
    """A P1 incident assigned to "desk", its events handled as the consumer handles them: its id."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    deps = runtime.state["deps"]
    incident_id, now = uuid.uuid4(), datetime.now(UTC)
    events = [
        IncidentCreated(
            incident_id=incident_id,
            title="VPN down for everyone",
            service="vpn",
            category="network",
            priority="P1",
            channel="web",
            reporter="rita@example.com",
            created_at=now,
        ),
        IncidentAssigned(incident_id=incident_id, tier="L1", queue="desk", assignee="desk", assigned_at=now),
    ]

    async def feed() -> None:
        for event in events:
            async with runtime.unit_of_work() as session:
                envelope = Envelope(data=event, source="/tierline/test")
                await notify.on_event(deps.unit_of_work(session), deps, event, envelope)

    client.portal.call(feed)  # type: ignore[union-attr]
    return incident_id


def _all_dead(client: TestClient, incident_id: uuid.UUID, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The incident's messages once the sender has tried each (one attempt: all dead)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/v1/notifications", params={"incident_id": str(incident_id)}, headers=AUTH)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if items and all(i["status"] == "dead" for i in items):
            return items
        assert time.monotonic() < deadline, f"the messages were not all tried in {timeout}s: {items}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def api(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = new_database("notifier")
    migrations.upgrade(MIGRATIONS, url)
    with FUZZED.running(
        OPENAPI,
        infra=infra,
        database_url=url,
        config_dir=tmp_path_factory.mktemp("notifier-fuzz-config"),
        smtp_host="127.0.0.1",
        smtp_port=free_port(),  # nothing listens: email fails at once too
        smtp_timeout_seconds=2,
        link_secret="fuzz-link-secret-for-the-notifier",
        send_poll_seconds=0.05,
    ) as client:
        incident_id = _seed(client)
        log = _all_dead(client, incident_id)
        channels = {i["channel"] for i in log}
        assert {"webhook", "apprise", "mattermost", "email"} <= channels, log
        assert all(i["error"] for i in log), log
        session = Api(client)
        session.existing = {"name": "desk", "notification_id": log[0]["id"]}
        yield session


def no_secrets_in_answers(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Contact URLs go in and never come out: neither the known tokens nor a URL this request sent."""
    text = response.content.decode("utf-8", errors="replace") if response.content else ""
    for secret in SECRETS:
        assert secret not in text, "a contact URL's token came out in an answer"
    if 200 <= response.status_code < 300:
        for url in _urls(case.body):
            assert url not in text, f"the contact URL {url!r} came back in the answer"
    return None


def _urls(body: Any) -> list[str]:
    """The URLs of the contacts in a request body (long enough not to be found by chance)."""
    if not isinstance(body, dict):
        return []
    found = []
    for key in CONTACT_FIELDS:
        contacts = body.get(key)
        for contact in contacts if isinstance(contacts, list) else []:
            url = contact.get("url") if isinstance(contact, dict) else None
            if isinstance(url, str) and "://" in url and len(url) >= 12:
                found.append(url)
    return found


CHECKS = [not_a_server_error, problem_json_check(), no_secrets_in_answers]


def _valid_contact(index: int, contact: Any) -> dict[str, Any]:
    kind = contact.get("type") if isinstance(contact, dict) else None
    if isinstance(kind, str) and kind in VALID_URLS:
        return {"name": f"c{index}", "type": kind, "url": VALID_URLS[kind]}
    return {"name": f"c{index}", "type": "email", "address": f"fuzz{index}@example.com"}


def _made_valid(body: Any) -> dict[str, Any] | None:
    """The body with its contacts (or channels) made reachable ones of their type, and its rules naming
    them; None when it has no list of contacts to make valid."""
    if not isinstance(body, dict):
        return None
    changes: dict[str, Any] = {}
    for key in CONTACT_FIELDS:
        contacts = body.get(key)
        if isinstance(contacts, list) and 1 <= len(contacts) <= 20:
            changes[key] = [_valid_contact(i, c) for i, c in enumerate(contacts)]
    rules = body.get("rules")
    if "contacts" in changes and isinstance(rules, list) and 1 <= len(rules) <= 20:
        changes["rules"] = [{"notify": [{"contact": "c0", "after": "1m"}]} for _ in rules]
    return {**body, **changes} if changes and any(body.get(k) != v for k, v in changes.items()) else None


def _refused(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its first contact a webhook on a private host, which the SSRF guard refuses."""
    key = next(k for k in CONTACT_FIELDS if isinstance(body.get(k), list) and body[k])
    contacts = [{"name": "c0", "type": "webhook", "url": REFUSED_URL}, *body[key][1:]]
    return {**body, key: contacts}


@schema.parametrize()
@fuzz_settings()
def test_no_server_errors_problem_json_and_no_secrets(case: Case, api: Api) -> None:
    check_fuzzable(case, OPENAPI, KNOWN_BUGS)
    twin = call_and_twin(case, api, CHECKS)
    last = case if twin is None else twin
    if case.method.upper() != "PUT" or (body := _made_valid(last.body)) is None:
        return
    # The last one sent again with reachable contacts (past the directory's checks), then with one
    # the SSRF guard refuses.
    valid = last.derive(keep_auth=True)
    valid.body = body
    valid.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
    refused = last.derive(keep_auth=True)
    refused.body = _refused(body)
    response = refused.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
    keyed = response.request.headers.get("Authorization") == AUTH["Authorization"]
    assert response.status_code == (422 if keyed else 401), f"{response.status_code}: {response.text[:300]}"
