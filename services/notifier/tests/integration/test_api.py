"""The notifier as it runs: events from real Kafka become mail at a real SMTP server; the directory's
admin API keeps contact URLs secret and refuses what could never be reached; the notification log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tierline_shared.events import IncidentAssigned, IncidentCreated
from tierline_shared.testing import answer, eventually, publish_events

from .conftest import Mailbox, body_text, mails_to

pytestmark = pytest.mark.integration
CHAT = "https://chat.example.com/hooks/s3cr3t-token-of-the-room"


async def publish(runtime, infra, *events) -> None:
    prefix = runtime.settings.kafka_topic_prefix
    await publish_events(infra.bootstrap_servers, prefix, "/tierline/test", events)


async def test_an_assignment_on_kafka_becomes_an_email_and_a_line_in_the_log(
    notifier_app, infra, mailbox: Mailbox
) -> None:
    async with notifier_app() as (http, runtime):
        incident, now = uuid.uuid4(), datetime.now(UTC)
        created = IncidentCreated(
            incident_id=incident,
            title="Printer on fire",
            service="print",
            category="hardware",
            priority="P3",
            channel="phone",
            reporter="ops-bot",
            created_at=now,
        )
        assigned = IncidentAssigned(
            incident_id=incident, tier="L1", queue="desk", assignee="alice", assigned_at=now
        )
        await publish(runtime, infra, created, assigned)
        (mail,) = await mails_to(mailbox, "alice@example.com")
        assert "Printer on fire" in mail["Subject"] and "/v1/links/" in body_text(mail)

        async def logged() -> list | None:
            page = answer(await http.get("/v1/notifications", params={"incident_id": str(incident)}))
            return page["items"] if page["items"] and page["items"][0]["status"] == "sent" else None

        (line,) = await eventually(logged, timeout=15, what="the notification recorded as sent")
        assert (line["recipient"], line["kind"], line["channel"], line["to"], line["attempts"]) == (
            "alice",
            "assigned",
            "email",
            "alice@example.com",
            1,
        )
        assert answer(await http.get(f"/v1/notifications/{line['id']}"))["id"] == line["id"]
        assert answer(await http.get("/v1/notifications", params={"person": "bob"}))["items"] == []
        assert answer(await http.get("/v1/notifications", params={"status": "dead"}))["items"] == []


async def test_people_and_teams_are_written_with_put_and_their_urls_never_shown(notifier_app) -> None:
    async with notifier_app() as (http, _):
        person = {
            "contacts": [
                {"name": "chat", "type": "mattermost", "url": CHAT},
                {"name": "work", "type": "email", "address": "zoe@example.com"},
            ],
            "rules": [
                {"urgency": ["high"], "notify": [{"contact": "chat"}, {"contact": "work", "after": "5m"}]}
            ],
        }
        made = answer(await http.put("/v1/people/zoe", json=person))
        assert made["managed_by"] == "api" and "s3cr3t" not in str(made)
        chat = made["contacts"][0]
        assert chat["url_fingerprint"].startswith("sha256:") and chat["address"] is None
        assert made["rules"][0]["notify"][1] == {"contact": "work", "after_seconds": 300.0}
        assert answer(await http.get("/v1/people/zoe"))["contacts"] == made["contacts"]
        assert "zoe" in [p["name"] for p in answer(await http.get("/v1/people"))]
        person["contacts"] = person["contacts"][1:]
        person["rules"] = []
        assert len(answer(await http.put("/v1/people/zoe", json=person))["contacts"]) == 1

        team = answer(await http.put("/v1/teams/desk", json={"lead": "zoe", "channels": []}))
        assert (team["lead"], team["channels"], team["managed_by"]) == ("zoe", [], "config")
        assert (await http.delete("/v1/people/zoe")).status_code == 409  # she leads desk
        answer(await http.put("/v1/teams/desk", json={"lead": "lena", "channels": []}))
        assert (await http.delete("/v1/people/zoe")).status_code == 204
        missing = await http.get("/v1/people/zoe")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (
            {"contacts": [{"name": "w", "type": "email", "address": "not-an-address"}]},
            "contacts.0.address",
            "@",
        ),
        (
            {"contacts": [{"name": "c", "type": "mattermost", "url": "https://10.1.2.3/hooks/x"}]},
            "contacts.0.url",
            "non-public",
        ),
        (
            {"contacts": [{"name": "c", "type": "slack", "url": "ftp://example.com/x"}]},
            "contacts.0.url",
            "",
        ),
        (
            {
                "contacts": [{"name": "w", "type": "email", "address": "a@example.com"}],
                "rules": [{"notify": [{"contact": "pager"}]}],
            },
            "",
            "pager",
        ),
        ({"contacts": [{"name": "w", "type": "email", "url": "https://example.com"}]}, "contacts.0", ""),
        ({"rules": [{"notify": [{"contact": "w", "after": "2d"}]}]}, "rules.0.notify.0.after", ""),
    ],
    ids=["bad-address", "private-url", "not-http", "unknown-contact", "email-with-url", "delay-too-long"],
)
async def test_contacts_that_could_never_work_are_refused_naming_the_field(
    notifier_app, body, field, reason
) -> None:
    async with notifier_app() as (http, _):
        refused = await http.put("/v1/people/yan", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert any(e["field"].startswith(field) and reason in e["reason"] for e in problem["errors"]), problem
        assert (await http.get("/v1/people/yan")).status_code == 404  # nothing written


async def test_a_team_lead_must_be_in_the_directory_and_cannot_be_removed_while_leading(notifier_app) -> None:
    async with notifier_app() as (http, _):
        refused = await http.put("/v1/teams/net", json={"lead": "ghost"})
        assert refused.status_code == 422 and refused.json()["errors"] == [
            {"field": "lead", "reason": "no person named 'ghost'"}
        ]
        assert (await http.get("/v1/teams/net")).status_code == 200  # the file's team, unchanged
        assert answer(await http.get("/v1/teams/net"))["lead"] == "lena"
        leading = await http.delete("/v1/people/lena")
        assert leading.status_code == 409 and leading.headers["content-type"] == "application/problem+json"
        assert leading.json()["teams"] == ["desk", "experts", "net"]
        assert (await http.get("/v1/people/lena")).status_code == 200
