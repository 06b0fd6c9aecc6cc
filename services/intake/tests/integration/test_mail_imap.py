"""IMAP fetching end to end: mail APPENDed to a real Dovecot's INBOX is fetched by intake's worker,
taken in on the real PostgreSQL and Kafka, and moved to the processed folder only after its commit;
a crash between the commit and the move doubles nothing; IDLE brings mail without waiting for a poll.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import ValidationError

from tests.support.dovecot import Dovecot, dovecot, start_dovecot  # noqa: F401 - the fixtures
from tests.support.mails import ALICE, SUPPORT, wire
from tests.support.mails import mail as person_mail
from tierline_intake.bootstrap import create_app
from tierline_intake.config import Settings
from tierline_intake.mail import imap
from tierline_intake.mail.ingest import Outcome
from tierline_shared import migrations
from tierline_shared.testing import eventually, query_value

from .conftest import ADMIN_KEY, CONFIG_DIR, MIGRATIONS

pytestmark = pytest.mark.integration
POLL_SECONDS = 60.0  # far longer than any wait below: what arrives in time came by IDLE
# Dovecot's defaults without IDLE and MOVE (and without CHILDREN, NAMESPACE… which the fetcher ignores)
NO_IDLE_NO_MOVE = "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS"


def mail(subject: str = "Printer on fire", body: str = "Third floor.", **headers: str) -> bytes:
    return wire(person_mail(subject, body, **headers))


def received(outcome: str) -> float:
    return REGISTRY.get_sample_value("tierline_mail_received_total", {"outcome": outcome}) or 0.0


class Intake:
    """Intake apps fetching from one Dovecot, on one database: started, stopped, started again."""

    def __init__(self, infra: Any, url: str, server: Dovecot, stack: ExitStack) -> None:
        self.infra, self.url, self.server, self.stack = infra, url, server, stack
        self.client: TestClient | None = None

    def start(self, **overrides: Any) -> TestClient:
        fields: dict[str, Any] = {
            "database_url": self.url,
            "kafka_bootstrap_servers": self.infra.bootstrap_servers,
            "bootstrap_api_key": ADMIN_KEY,
            "config_dir": CONFIG_DIR,
            "imap_host": self.server.host,
            "imap_port": self.server.port,
            "imap_username": self.server.user,
            "imap_password": self.server.password,
            "imap_tls": "none",
            "imap_poll_seconds": POLL_SECONDS,
            "imap_mailbox": SUPPORT,
        }
        settings = Settings(**{**fields, **overrides})
        client = TestClient(create_app(settings), headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        client.__enter__()
        self.stack.callback(client.__exit__, None, None, None)
        self.client = client
        return client

    def stop(self) -> None:
        """Stop the app (its workers cancelled wherever they are, as a killed process would leave them)."""
        assert self.client is not None
        self.client.__exit__(None, None, None)
        self.client = None

    def value(self, sql: str) -> Any:
        return query_value(self.url, sql)

    def incidents(self) -> list[dict[str, Any]]:
        assert self.client is not None
        answer = self.client.get("/v1/incidents", params={"channel": "email"})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def incident(self, incident_id: str) -> dict[str, Any]:
        assert self.client is not None
        body: dict[str, Any] = self.client.get(f"/v1/incidents/{incident_id}").json()
        return body

    async def in_folders(self) -> tuple[list[int], list[int]]:
        """(INBOX's UIDs, Processed's UIDs)."""
        return await self.server.uids("INBOX"), await self.server.uids("Processed")

    def folders(self) -> tuple[list[int], list[int]]:
        return asyncio.run(self.in_folders())

    def append(self, raw: bytes) -> None:
        asyncio.run(self.server.append(raw))

    def wait(self, probe: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
        return asyncio.run(eventually(probe, timeout=timeout, what=what))

    def processed(self, count: int, timeout: float = 20.0) -> None:
        """Wait until ``count`` mails are in Processed and none is left in INBOX."""
        expected = ([], list(range(1, count + 1)))

        async def moved() -> bool:
            return await self.in_folders() == expected

        self.wait(moved, f"{count} mail(s) in Processed, none in INBOX", timeout)


@pytest.fixture
def intake(infra: Any, new_database: Callable[[str], str], dovecot: Dovecot) -> Iterator[Intake]:  # noqa: F811
    url = new_database("intake")
    migrations.upgrade(MIGRATIONS, url)
    with ExitStack() as stack:
        yield Intake(infra, url, dovecot, stack)


def test_a_mail_in_the_inbox_becomes_an_incident_and_moves_to_processed(intake: Intake) -> None:
    intake.append(mail())
    intake.start()
    intake.processed(1)
    [item] = intake.incidents()
    incident = intake.incident(item["id"])
    assert (incident["channel"], incident["reporter"], incident["title"]) == (
        "email",
        ALICE,
        "Printer on fire",
    )
    assert intake.value("SELECT outcome FROM mail_messages") == "created"


def test_idle_brings_new_mail_without_waiting_for_a_poll(intake: Intake) -> None:
    intake.start()
    intake.append(mail("First"))
    intake.processed(1)  # the fetcher is past its first round: what follows arrives while it idles
    intake.append(mail("Second"))
    intake.processed(2, timeout=POLL_SECONDS / 6)
    assert sorted(i["title"] for i in intake.incidents()) == ["First", "Second"]


def test_a_reply_with_the_reference_is_a_note_and_is_moved_too(intake: Intake) -> None:
    intake.start()
    intake.append(mail())
    intake.processed(1)
    [item] = intake.incidents()
    reference = item["id"].replace("-", "")[:8].upper()
    intake.append(mail(f"Re: [TL-{reference}] Printer on fire", "It is smoking now."))
    intake.processed(2)
    assert [i["id"] for i in intake.incidents()] == [item["id"]]
    assert intake.value("SELECT outcome FROM mail_messages ORDER BY received_at DESC LIMIT 1") == "noted"
    timeline = intake.incident(item["id"])["timeline"]
    assert any(line["kind"] == "note" and "It is smoking now." in line["summary"] for line in timeline)


def test_rejected_and_ignored_mail_is_recorded_and_moved(intake: Intake) -> None:
    intake.append(
        b"To: support@tierline.localhost\r\nSubject: who am I\r\nMessage-ID: <nofrom@x>\r\n\r\nhi\r\n"
    )
    intake.append(mail("Out of office", Auto_Submitted="auto-replied"))
    intake.start()
    intake.processed(2)
    assert intake.incidents() == []
    outcomes = intake.value("SELECT string_agg(outcome, ',' ORDER BY outcome) FROM mail_messages")
    assert outcomes == "ignored,rejected"


def test_bcc_and_alias_mail_is_for_the_configured_mailbox_whatever_its_headers_say(intake: Intake) -> None:
    intake.append(mail("BCC'd", To="someone@elsewhere.example"))  # no Delivered-To at all
    intake.append(mail("Steered", To="x@elsewhere.example", Delivered_To="vpn@tierline.localhost"))
    intake.start(imap_mailbox="Support@Tierline.localhost")  # addresses are case-insensitive
    intake.processed(2)
    incidents = [intake.incident(i["id"]) for i in intake.incidents()]
    assert sorted((i["title"], i["service"]) for i in incidents) == [("BCC'd", "desk"), ("Steered", "desk")]


def test_a_failing_ingest_leaves_the_mail_in_the_inbox_to_retry(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = threading.Event()
    real = imap.ingest_message

    async def database_down(*args: Any, **kwargs: Any) -> Outcome:
        failures.set()
        raise OSError("connection refused")

    monkeypatch.setattr(imap, "ingest_message", database_down)
    deferred = received("deferred")
    intake.append(mail())
    intake.start(imap_poll_seconds=1.0)  # a deferred mail is tried again after a poll's pause at most
    intake.wait(failures.is_set, "a failed ingest")
    assert received("deferred") > deferred
    assert intake.folders() == ([1], [])
    assert intake.value("SELECT count(*) FROM mail_messages") == 0

    monkeypatch.setattr(imap, "ingest_message", real)
    intake.processed(1)
    assert intake.value("SELECT count(*) FROM incidents") == 1


def test_without_idle_and_move_mail_is_polled_and_copied_then_expunged(
    infra: Any,
    new_database: Callable[[str], str],
    start_dovecot: Callable[..., Dovecot],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tierline_intake")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="tierline_intake")
    url = new_database("intake")
    migrations.upgrade(MIGRATIONS, url)
    try:
        with ExitStack() as stack:
            intake = Intake(infra, url, start_dovecot(capability=NO_IDLE_NO_MOVE), stack)
            intake.start(imap_poll_seconds=0.5)
            intake.append(mail("First"))
            intake.processed(1)
            connected = [
                r.msg
                for r in caplog.records
                if isinstance(r.msg, dict) and r.msg["event"] == "imap_connected"
            ]
            assert connected and (connected[0]["idle"], connected[0]["move"]) == (False, False)
            intake.append(mail("Second"))  # found by the next poll, half a second away
            intake.processed(2, timeout=10)  # INBOX empty in another session: expunged, not only flagged
            assert sorted(i["title"] for i in intake.incidents()) == ["First", "Second"]
            assert intake.value("SELECT count(*) FROM mail_messages") == 2
            flags = asyncio.run(_flags(intake.server, "Processed"))
            assert len(flags) == 2 and not any("Deleted" in line for line in flags), flags  # copies, clean
    finally:
        logger.removeHandler(caplog.handler)


async def _flags(server: Dovecot, folder: str) -> list[str]:
    """The FLAGS lines of every message in ``folder``."""
    client = await server.client()
    try:
        assert (await client.select(folder)).result == "OK"
        answer = await client.fetch("1:*", "(FLAGS)")
        return [bytes(line).decode() for line in answer.lines if b"FLAGS" in bytes(line)]
    finally:
        await client.logout()


def test_imap_needs_a_username_and_password() -> None:
    with pytest.raises(ValidationError, match="imap_username and imap_password"):
        Settings(imap_host="imap.example.com", imap_username="desk")
    settings = Settings(
        imap_host="imap.example.com",
        imap_username="desk",
        imap_password="secret",
        imap_mailbox=SUPPORT,
        config_dir=CONFIG_DIR,
    )
    assert (settings.imap_tls, settings.imap_folder, settings.imap_processed_folder) == (
        "imaps",
        "INBOX",
        "Processed",
    )
    with pytest.raises(ValidationError, match="imap_processed_folder"):
        Settings(imap_processed_folder='Done "now"')
