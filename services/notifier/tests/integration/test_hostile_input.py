"""Hostile HTTP input on the notifier, served by uvicorn on the real PostgreSQL and Kafka: each case of
tests/support/hostile.py gets a 4xx problem+json naming the field and reason (or, where uvicorn's
own parser refuses the request, uvicorn's plain 4xx), never a 5xx, and the notifier answers a normal
request right after.

Writes: putting a queue's team (its ``lead`` is a name, a string) and a person. A person's body has
no top-level string: its ``contacts`` list stands in (a string there is refused naming it), and the
strings inside a contact (an address, a URL, a contact's name) get a test of their own below. The
listing is the notification log, GET /v1/notifications, holding the messages an incident created
and assigned to alice owed (the reporter's and alice's), so a filter value that matched everything
would show.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import hostile
from tierline_notifier.bootstrap import create_app
from tierline_notifier.config import Settings
from tierline_notifier.service_layer import notify
from tierline_shared import db
from tierline_shared.events import Envelope, IncidentAssigned, IncidentCreated, IncidentEvent

from .conftest import DIRECTORY, MIGRATIONS, TEMPLATES

pytestmark = pytest.mark.integration
ADMIN_KEY = "tl_test-admin-key-for-notifier-hostile-input"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
PERSON = {
    "contacts": [{"name": "work", "type": "email", "address": "zoe@example.com"}],
    "rules": [{"urgency": ["high"], "notify": [{"contact": "work", "after": "5m"}]}],
}
TEAM = {"lead": "lena", "channels": [{"name": "list", "type": "email", "address": "desk@example.com"}]}


def _events(incident_id: uuid.UUID) -> list[IncidentEvent]:
    now = datetime.now(UTC)
    return [
        IncidentCreated(
            incident_id=incident_id,
            title="VPN drops every hour",
            service="vpn",
            category="network",
            priority="P3",
            channel="web",
            reporter="rita@example.com",
            created_at=now,
        ),
        IncidentAssigned(incident_id=incident_id, tier="L1", queue="desk", assignee="alice", assigned_at=now),
    ]


async def _seed(database_url: str, deps: Any) -> None:
    """The messages an incident owes, recorded on the notifier's database as its consumer records them."""
    engine = db.create_engine(database_url)
    try:
        for event in _events(uuid.uuid4()):
            async with db.session_factory(engine)() as session, session.begin():
                envelope = Envelope(data=event, source="/tierline/test")
                await notify.on_event(deps.unit_of_work(session), deps, event, envelope)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def notifier(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hostile.Target]:
    config_dir: Path = tmp_path_factory.mktemp("notifier-hostile")
    shutil.copytree(TEMPLATES, config_dir / "templates")
    with hostile.service(
        create_app,
        Settings,
        infra=infra,
        database_url=new_database("notifier"),
        migrations_dir=MIGRATIONS,
        config_dir=config_dir,
        admin_key=ADMIN_KEY,
        config_files={"notifications.yaml": DIRECTORY},
    ) as served:
        asyncio.run(_seed(served.database_url, served.app.state.runtime.state["deps"]))
        yield hostile.Target(
            name="notifier",
            url=served.url,
            auth=AUTH,
            writes=(
                hostile.Write("PUT", "/v1/teams/desk", TEAM, string_field="lead"),
                hostile.Write("PUT", "/v1/people/zoe", PERSON, string_field="contacts"),
            ),
            listing="/v1/notifications",
            lookup="/v1/people/{}",
            text_filters=("person",),
            typed_filters=("incident_id", "status", "limit", "cursor"),
        )


@hostile.cases()
def test_hostile_input_is_refused_with_a_problem(
    case: Callable[[hostile.Target, httpx.Client], None], notifier: hostile.Target
) -> None:
    hostile.run(case, notifier)


def test_the_log_was_seeded(notifier: hostile.Target) -> None:
    """The listing the filter cases read holds the seeded messages: to the reporter and to alice."""
    with hostile.client(notifier) as http:
        items = http.get(notifier.listing, headers=AUTH).json()["items"]
        assert {i["recipient"] for i in items} >= {"rita@example.com", "alice"}, items
        mine = http.get(notifier.listing, params={"person": "alice"}, headers=AUTH).json()["items"]
        assert mine and {i["recipient"] for i in mine} == {"alice"}, mine


def _contact(**fields: Any) -> dict[str, Any]:
    return {"contacts": [{"name": "work", "type": "email", "address": "zoe@example.com", **fields}]}


def _webhook(url: str, contact_type: str = "webhook") -> dict[str, Any]:
    return {"contacts": [{"name": "c", "type": contact_type, "url": url}]}


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        pytest.param(_contact(address="zoe\x00@example.com"), "contacts.0.address", "NUL", id="nul-address"),
        pytest.param(
            _contact(address="z" * 10_000 + "@x.org"), "contacts.0.address", "320", id="huge-address"
        ),
        pytest.param(_contact(address=9 * 10**50), "contacts.0.address", "string", id="number-address"),
        pytest.param(_contact(name="work\x00"), "contacts.0.name", "NUL", id="nul-contact-name"),
        pytest.param(_contact(name="w" * 10_000), "contacts.0.name", "100", id="huge-contact-name"),
        pytest.param(_contact(name="'; DROP TABLE people; --"), "contacts.0.name", "pattern", id="sql-name"),
        pytest.param(_webhook("https://example.com/\x00hook"), "contacts.0.url", "NUL", id="nul-url"),
        pytest.param(
            _webhook("https://example.com/" + "h" * 10_000), "contacts.0.url", "2000", id="huge-url"
        ),
        pytest.param(
            _webhook("nosuch://token@host", "apprise"), "contacts.0.url", "Apprise", id="unknown-apprise"
        ),
        pytest.param(
            {**_contact(), "rules": [{"notify": [{"contact": "work", "after": "9" * 5_000}]}]},
            "rules.0.notify.0.after",
            "duration",
            id="huge-delay",
        ),
        pytest.param(
            {**_contact(), "rules": [{"notify": [{"contact": "work\x00"}]}]},
            "rules.0.notify.0.contact",
            "NUL",
            id="nul-rule-contact",
        ),
        pytest.param({"contacts": _contact()["contacts"] * 21}, "contacts", "20", id="too-many-contacts"),
    ],
)
def test_hostile_strings_inside_a_contact_are_refused_naming_them(
    notifier: hostile.Target, body: dict[str, Any], field: str, reason: str
) -> None:
    with hostile.client(notifier) as http:
        response = http.put("/v1/people/zoe", json=body, headers=AUTH)
    hostile.names(hostile.problem(response, 422), field, reason)
    hostile.still_answers(notifier)
