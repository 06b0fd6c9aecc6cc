"""The email channel end to end: mail sent with smtplib to intake's real SMTP receiver (aiosmtpd on
a free loopback port) becomes incidents, notes, attachments or recorded refusals, on the real
PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.support.mails import ALICE, SUPPORT, VPN, mail
from tierline_intake.config import Settings, hash_password, mail_auth_users
from tierline_intake.entrypoints import handlers
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_launcher.procs import accepts_connections, free_port
from tierline_shared import db
from tierline_shared.events import Envelope, NotificationSent
from tierline_shared.testing import eventually, query_value

pytestmark = pytest.mark.integration


@dataclass
class Mailer:
    client: TestClient
    port: int

    def send(
        self, raw: bytes, *, to: str = SUPPORT, sender: str = ALICE, login: tuple[str, str] | None = None
    ) -> tuple[int, str]:
        """One mail through a whole SMTP session; DATA's answer (code, text)."""
        raw = re.sub(rb"(?<!\r)\n", b"\r\n", raw)  # smtplib sends bytes as they are: SMTP wants CRLF
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.ehlo("tests.localhost")
            if login is not None:
                smtp.login(*login)
            code, text = smtp.mail(sender)
            if code != 250:
                return code, text.decode()
            code, text = smtp.rcpt(to)
            if code not in (250, 251):
                return code, text.decode()
            code, text = smtp.data(raw)
            return code, text.decode()

    def value(self, sql: str) -> Any:
        return query_value(self.client.database_url, sql)  # type: ignore[attr-defined]

    def incidents(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client.get("/v1/incidents", params={"channel": "email"}).json()[
            "items"
        ]
        return items

    def incident(self, incident_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get(f"/v1/incidents/{incident_id}").json()
        return body


@pytest.fixture
def make_mailer(make_client: Callable[..., TestClient]) -> Callable[..., Mailer]:
    def make(**overrides: Any) -> Mailer:
        port = free_port()
        client = make_client(mail_listen=f"127.0.0.1:{port}", **overrides)
        asyncio.run(eventually(lambda: accepts_connections(port), what=f"the SMTP receiver on {port}"))
        return Mailer(client, port)

    return make


@pytest.fixture
def mailer(make_mailer: Callable[..., Mailer]) -> Mailer:
    return make_mailer()


def _created(answer: tuple[int, str]) -> str:
    """The reference of the incident a 250 'created TL-…' answer names."""
    code, text = answer
    assert code == 250 and "created TL-" in text, answer
    return text.rsplit("TL-", 1)[1].strip()


def _only_incident(mailer: Mailer) -> dict[str, Any]:
    items = mailer.incidents()
    assert len(items) == 1, items
    return mailer.incident(items[0]["id"])


# -- new incidents ------------------------------------------------------------------------


def test_a_plain_mail_becomes_an_incident_of_its_mailbox(mailer: Mailer) -> None:
    reference = _created(mailer.send(mail().as_bytes(), to=VPN))
    incident = _only_incident(mailer)
    assert incident["id"].replace("-", "")[:8].upper() == reference
    assert (incident["channel"], incident["reporter"]) == ("email", ALICE)
    assert (incident["service"], incident["category"], incident["priority"]) == ("vpn", "network", "P2")
    assert incident["title"] == "Printer on fire"
    assert "Third floor" in incident["description"]
    summaries = [line["summary"] for line in incident["timeline"]]
    assert f"Received by email from {ALICE}" in summaries
    assert mailer.value("SELECT outcome FROM mail_messages") == "created"


def test_an_html_only_mail_is_described_as_text(mailer: Mailer) -> None:
    message = mail()
    message.set_content(
        "<html><body><p>The <b>VPN</b> drops</p><p>every hour</p></body></html>", subtype="html"
    )
    _created(mailer.send(message.as_bytes()))
    description = _only_incident(mailer)["description"]
    assert "VPN" in description and "every hour" in description
    assert "<p>" not in description and "<b>" not in description


def test_a_latin_1_mail_is_decoded_by_its_charset(mailer: Mailer) -> None:
    raw = (
        b"From: Ren\xe9 <rene@example.com>\r\nTo: support@tierline.localhost\r\n"
        b"Subject: =?iso-8859-1?q?Caf=E9_machine?=\r\nMessage-ID: <latin1@example.com>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nLa machine \xe0 caf\xe9 est cass\xe9e.\r\n"
    )
    _created(mailer.send(raw, sender="rene@example.com"))
    incident = _only_incident(mailer)
    assert incident["title"] == "Café machine"
    assert "La machine à café est cassée." in incident["description"]
    assert incident["reporter"] == "rene@example.com"


def test_attachments_are_listed_stored_and_downloadable_and_executables_refused(mailer: Mailer) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    message = mail()
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="Rapport été.pdf")
    message.add_attachment(
        b"MZ\x90\x00fake", maintype="application", subtype="octet-stream", filename="setup.exe"
    )
    _created(mailer.send(message.as_bytes()))
    incident = _only_incident(mailer)
    assert f"Received by email from {ALICE} with 2 attachments" in [
        line["summary"] for line in incident["timeline"]
    ]
    listed = mailer.client.get(f"/v1/incidents/{incident['id']}/attachments").json()
    by_name = {item["filename"]: item for item in listed}
    assert set(by_name) == {"Rapport été.pdf", "setup.exe"}
    report, setup = by_name["Rapport été.pdf"], by_name["setup.exe"]
    assert (report["stored"], report["refused"], report["size"]) == (True, None, len(pdf))
    assert report["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert setup["stored"] is False and setup["refused"]

    download = mailer.client.get(f"/v1/incidents/{incident['id']}/attachments/{report['id']}")
    assert download.status_code == 200 and download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert (
        disposition.startswith("attachment;")
        and "filename*=UTF-8''Rapport%20%C3%A9t%C3%A9.pdf" in disposition
    )

    refused = mailer.client.get(f"/v1/incidents/{incident['id']}/attachments/{setup['id']}")
    assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"
    unknown = mailer.client.get(f"/v1/incidents/{incident['id']}/attachments/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert mailer.client.get(f"/v1/incidents/{uuid.uuid4()}/attachments").status_code == 404


def test_attachments_beyond_the_per_mail_limit_are_listed_not_stored(
    make_mailer: Callable[..., Mailer],
) -> None:
    mailer = make_mailer(mail_attachment_max_bytes=1000)
    message = mail()
    message.add_attachment(b"a" * 800, maintype="text", subtype="plain", filename="first.txt")
    message.add_attachment(b"b" * 800, maintype="text", subtype="plain", filename="second.txt")
    _created(mailer.send(message.as_bytes()))
    listed = mailer.client.get(f"/v1/incidents/{_only_incident(mailer)['id']}/attachments").json()
    assert [(a["filename"], a["stored"], a["refused"]) for a in listed] == [
        ("first.txt", True, None),
        ("second.txt", False, "over the per-mail limit"),
    ]


# -- replies ------------------------------------------------------------------------------


async def _notification_sent(
    url: str, deps: IntakeDeps, incident_id: uuid.UUID, recipient: str = ALICE, *, kind: str = "created"
) -> uuid.UUID:
    """The notifier's NotificationSent to ``recipient`` (an address: the reporter; else a person) for
    the incident, applied as intake's consumer applies it."""
    event = NotificationSent(
        incident_id=incident_id,
        notification_id=uuid.uuid4(),
        kind=kind,
        recipient=recipient,
        role="reporter" if "@" in recipient else "assignee",
        channel="email",
        attempts=1,
        sent_at=deps.clock.now(),
    )
    engine = db.create_engine(url)
    try:
        session: AsyncSession
        async with db.session_factory(engine)() as session, session.begin():
            await handlers.bind(deps)[NotificationSent](
                session, Envelope(data=event, source="/tierline/notifier")
            )
    finally:
        await engine.dispose()
    return event.notification_id


async def test_a_reply_to_a_notification_is_a_note_not_an_incident(mailer: Mailer, deps: IntakeDeps) -> None:
    _created(mailer.send(mail().as_bytes()))
    incident_id = uuid.UUID(mailer.incidents()[0]["id"])
    notification = await _notification_sent(mailer.client.database_url, deps, incident_id)  # type: ignore[attr-defined]
    reply = mail("Re: your ticket", "It is smoking now.", In_Reply_To=f"<{notification}@tierline>")
    code, text = mailer.send(reply.as_bytes())
    assert code == 250 and "noted on TL-" + incident_id.hex[:8].upper() in text
    assert len(mailer.incidents()) == 1
    timeline = mailer.incident(str(incident_id))["timeline"]
    notes = [line for line in timeline if line["kind"] == "note"]
    assert notes and notes[-1]["data"] == {"text": "It is smoking now.", "author": ALICE}
    assert f"Reply by email from {ALICE}" in [line["summary"] for line in timeline]


def test_a_reply_with_the_subject_reference_is_a_note(mailer: Mailer) -> None:
    reference = _created(mailer.send(mail().as_bytes()))
    code, text = mailer.send(mail(f"Re: [TL-{reference}] Printer on fire", "Still burning.").as_bytes())
    assert code == 250 and f"noted on TL-{reference}" in text
    incident = _only_incident(mailer)
    assert any(
        line["kind"] == "note" and "Still burning." in line["summary"] for line in incident["timeline"]
    )


def test_a_reply_to_a_resolved_incident_reopens_it(mailer: Mailer) -> None:
    reference = _created(mailer.send(mail().as_bytes()))
    incident_id = mailer.incidents()[0]["id"]
    assert mailer.client.post(f"/v1/incidents/{incident_id}/resolve").status_code == 200
    code, _ = mailer.send(mail(f"Re: [TL-{reference}] Printer on fire", "It came back.").as_bytes())
    assert code == 250
    incident = _only_incident(mailer)
    assert (incident["status"], incident["reopen_count"]) == ("open", 1)
    kinds = [line["kind"] for line in incident["timeline"]]
    assert kinds.index("reopened") < len(kinds) - 1 - kinds[::-1].index("note")


def test_a_reply_to_a_closed_incident_opens_a_new_one_naming_the_old(mailer: Mailer) -> None:
    reference = _created(mailer.send(mail().as_bytes()))
    old = mailer.incidents()[0]["id"]
    mailer.client.post(f"/v1/incidents/{old}/resolve")
    assert mailer.client.post(f"/v1/incidents/{old}/close").status_code == 200
    new_reference = _created(mailer.send(mail(f"Re: [TL-{reference}] Printer on fire", "Again!").as_bytes()))
    assert new_reference != reference
    new = next(i for i in mailer.incidents() if i["id"] != old)
    assert f"Follow-up to TL-{reference} (closed)" in mailer.incident(new["id"])["description"]


# -- what never becomes an incident ---------------------------------------------------------


def test_auto_replies_and_bounces_are_ignored(mailer: Mailer) -> None:
    code, text = mailer.send(mail("Out of office", Auto_Submitted="auto-replied").as_bytes())
    assert code == 250 and "ignored" in text
    bounce = (
        b"From: MAILER-DAEMON@example.com\r\nTo: support@tierline.localhost\r\nSubject: Undelivered\r\n"
        b"Message-ID: <bounce1@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nYour mail could not be delivered.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; example.com\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
    )
    code, text = mailer.send(bounce, sender="")
    assert code == 250 and "ignored" in text
    assert mailer.incidents() == []
    assert mailer.value("SELECT count(*) FROM mail_messages WHERE outcome = 'ignored'") == 2
    assert mailer.value("SELECT count(*) FROM timeline") == 0


def test_a_second_delivery_of_one_message_id_is_ignored(mailer: Mailer) -> None:
    raw = mail(Message_ID="<once@example.com>").as_bytes()
    _created(mailer.send(raw))
    code, text = mailer.send(raw)
    assert code == 250 and "duplicate Message-ID" in text
    assert len(mailer.incidents()) == 1


def test_a_sender_over_the_rate_is_held(make_mailer: Callable[..., Mailer]) -> None:
    mailer = make_mailer(mail_rate="2/10m")
    for n in range(2):
        _created(mailer.send(mail(f"Problem {n}").as_bytes()))
    code, text = mailer.send(mail("Problem 3").as_bytes())
    assert code == 451 and "4.7.1 over 2 mails" in text  # not taken: the sending server tries again later
    assert len(mailer.incidents()) == 2
    assert mailer.value("SELECT outcome FROM mail_messages WHERE subject = 'Problem 3'") == "held"
    _created(mailer.send(mail("From Bob", From="bob@example.com").as_bytes(), sender="bob@example.com"))


def test_an_oversize_mail_is_refused_with_552(make_mailer: Callable[..., Mailer]) -> None:
    mailer = make_mailer(mail_max_bytes=4096)
    code, _ = mailer.send(mail(body="x" * 8000).as_bytes())
    assert code == 552
    assert mailer.incidents() == []
    assert mailer.value("SELECT count(*) FROM mail_messages") == 0


def test_an_unknown_recipient_is_refused_with_550(mailer: Mailer) -> None:
    code, text = mailer.send(mail().as_bytes(), to="nobody@tierline.localhost")
    assert code == 550 and "5.1.1" in text
    assert mailer.value("SELECT count(*) FROM mail_messages") == 0


def test_mail_without_a_from_is_rejected_and_recorded(mailer: Mailer) -> None:
    raw = b"To: support@tierline.localhost\nSubject: who am I\nMessage-ID: <nofrom@example.com>\n\nhello\n"
    code, text = mailer.send(raw)
    assert code == 550 and "5.6.0" in text
    assert mailer.incidents() == []
    assert mailer.value("SELECT outcome FROM mail_messages") == "rejected"
    assert mailer.value("SELECT reason FROM mail_messages")


def test_auth_when_configured_is_required(make_mailer: Callable[..., Mailer]) -> None:
    users = f"relay:{hash_password('s3cret pass')},other:{hash_password('other pass')}"
    mailer = make_mailer(mail_auth_users=users)  # no certificate: AUTH in clear (loopback; warned)
    code, _ = mailer.send(mail().as_bytes())
    assert code == 530  # authentication required
    for login in (("relay", "wrong"), ("relay", "other pass"), ("nobody", "s3cret pass")):
        with pytest.raises(smtplib.SMTPAuthenticationError):
            mailer.send(mail().as_bytes(), login=login)
    _created(mailer.send(mail().as_bytes(), login=("relay", "s3cret pass")))
    _created(mailer.send(mail("By the other").as_bytes(), login=("other", "other pass")))


def test_auth_users_are_salted_scrypt_hashes() -> None:
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second and first.startswith("scrypt$32768$8$1$")  # a new salt each time
    users = mail_auth_users(f"relay:{first}, other:{second}")
    assert users["relay"].verify(b"pw") and users["other"].verify(b"pw")
    assert not users["relay"].verify(b"pw ") and "scrypt" not in repr(users["relay"])
    salt, digest = first.split("$")[4:]
    for bad, reason in (
        (hashlib.sha256(b"pw").hexdigest(), "unsalted SHA-256"),
        (f"scrypt$1024$8$1${salt}${digest}", "at least 16384"),
        (f"scrypt$30000$8$1${salt}${digest}", "power of two"),
        (f"scrypt$1048576$8$1${salt}${digest}", "64 MiB"),
        (f"scrypt$32768$8$1$!!${digest}", "base64"),
        (f"scrypt$32768$8$1$AAAA${digest}", "at least 8 bytes"),
        ("bcrypt$x", "must be scrypt"),
    ):
        with pytest.raises(ValueError, match=f"'relay': .*{reason}") as refused:
            mail_auth_users(f"relay:{bad}")
        assert digest not in str(refused.value)
    with pytest.raises(ValidationError, match="mail_auth_users"):
        Settings(mail_auth_users="relay:" + hashlib.sha256(b"pw").hexdigest())


# -- nothing half done ----------------------------------------------------------------------


def test_a_failure_mid_ingest_leaves_neither_incident_nor_mail_row(
    mailer: Mailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierline_intake.mail import ingest

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ingest, "_attach", broken)  # after the incident was added
    events_before = mailer.value("SELECT count(*) FROM outbox")
    code, text = mailer.send(mail(Message_ID="<retry-me@example.com>").as_bytes())
    assert code == 451 and "4.3.0" in text
    assert mailer.value("SELECT count(*) FROM incidents") == 0
    assert mailer.value("SELECT count(*) FROM mail_messages") == 0
    assert mailer.value("SELECT count(*) FROM outbox") == events_before  # no IncidentCreated either
    monkeypatch.undo()
    _created(mailer.send(mail(Message_ID="<retry-me@example.com>").as_bytes()))  # the retry goes through


def test_a_failing_note_rolls_back_the_reopen_and_the_mail(
    mailer: Mailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tierline_intake.service_layer import lifecycle

    reference = _created(mailer.send(mail().as_bytes()))
    incident_id = mailer.incidents()[0]["id"]
    mailer.client.post(f"/v1/incidents/{incident_id}/resolve")

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(lifecycle, "add_note", broken)
    code, _ = mailer.send(mail(f"Re: [TL-{reference}]", "back again").as_bytes())
    assert code == 451
    incident = mailer.incident(incident_id)
    assert (incident["status"], incident["reopen_count"]) == ("resolved", 0)
    assert mailer.value("SELECT count(*) FROM mail_messages") == 1  # the first mail only
