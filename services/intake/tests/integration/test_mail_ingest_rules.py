"""Who may add to an incident by mail, and the per-sender rate under parallel deliveries and retries:
mail sent through intake's real SMTP receiver, or taken in by ``ingest`` directly, on the real
PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.mail.ingest import MailPolicy, Outcome, ingest
from tierline_intake.mail.mailboxes import Mailbox, Mailboxes
from tierline_intake.service_layer.incidents import IntakeDeps
from tierline_shared.clock import FixedClock

from . import test_mail_smtp
from .test_mail_smtp import ALICE, SUPPORT, Mailer, _created, mail

pytestmark = pytest.mark.integration
BOB = "bob@example.com"
make_mailer, mailer = test_mail_smtp.make_mailer, test_mail_smtp.mailer  # the SMTP tests' fixtures


async def _sent(mailer: Mailer, deps: IntakeDeps, incident_id: str, recipient: str) -> uuid.UUID:
    """The notifier's NotificationSent to ``recipient`` for the incident, applied as intake applies it."""
    url = mailer.client.database_url  # type: ignore[attr-defined]
    return await test_mail_smtp._notification_sent(
        url, deps, uuid.UUID(incident_id), recipient, kind="assigned"
    )


def _notes(incident: dict[str, Any]) -> list[str]:
    return [line["data"]["text"] for line in incident["timeline"] if line["kind"] == "note"]


def _follow_up_of(mailer: Mailer, answer: tuple[int, str], old_id: str, sender: str) -> dict[str, Any]:
    """The new incident a stranger's reply made: checked to name the old one, which it left alone."""
    reference = _created(answer)
    new = next(i for i in mailer.incidents() if i["id"].replace("-", "")[:8].upper() == reference)
    incident = mailer.incident(new["id"])
    old_reference = "TL-" + old_id.replace("-", "")[:8].upper()
    assert new["id"] != old_id and incident["reporter"] == sender
    assert incident["description"].startswith(f"Follow-up to {old_reference} from {sender}:\n\n")
    assert any(
        line["kind"] == "email"
        and f"as a follow-up to {old_reference} (not its reporter" in line["summary"]
        and line["data"]["follow_up_to"] == old_id
        for line in incident["timeline"]
    )
    return incident


# -- who may add to an incident --------------------------------------------------------------


def test_a_stranger_quoting_the_reference_opens_a_follow_up_and_never_reopens(mailer: Mailer) -> None:
    reference = _created(mailer.send(mail().as_bytes()))
    old_id = mailer.incidents()[0]["id"]
    assert mailer.client.post(f"/v1/incidents/{old_id}/resolve").status_code == 200

    reply = mail(f"Re: [TL-{reference}] Printer on fire", "Reopen this, I say.", From=f"Bob <{BOB}>")
    reply.add_attachment(b"not yours", maintype="text", subtype="plain", filename="notes.txt")
    new = _follow_up_of(mailer, mailer.send(reply.as_bytes(), sender=BOB), old_id, BOB)
    assert "Reopen this, I say." in new["description"]

    old = mailer.incident(old_id)
    assert (old["status"], old["reopen_count"], _notes(old)) == ("resolved", 0, [])
    assert [line["kind"] for line in old["timeline"]].count("email") == 1  # Alice's first mail only
    assert mailer.client.get(f"/v1/incidents/{old_id}/attachments").json() == []
    assert [a["filename"] for a in mailer.client.get(f"/v1/incidents/{new['id']}/attachments").json()] == [
        "notes.txt"
    ]

    # the reporter's own reply still reopens it, whatever case their address is written in
    code, text = mailer.send(
        mail(f"Re: [TL-{reference}]", "It came back.", From="ALICE@Example.COM").as_bytes()
    )
    assert code == 250 and f"noted on TL-{reference}" in text
    old = mailer.incident(old_id)
    assert (old["status"], _notes(old)) == ("open", ["It came back."])


async def test_a_stranger_answering_a_notification_opens_a_follow_up(
    mailer: Mailer, deps: IntakeDeps
) -> None:
    _created(mailer.send(mail().as_bytes()))
    old_id = mailer.incidents()[0]["id"]
    notification = await _sent(mailer, deps, old_id, ALICE)
    reply = mail(
        "Re: your ticket",
        "Forwarded to me, adding my bit.",
        From=BOB,
        In_Reply_To=f"<{notification}@tierline>",
    )
    _follow_up_of(mailer, mailer.send(reply.as_bytes(), sender=BOB), old_id, BOB)
    assert _notes(mailer.incident(old_id)) == []
    assert await asyncio.to_thread(mailer.value, "SELECT count(*) FROM incidents") == 2


async def test_the_address_a_notification_was_mailed_to_may_reply(mailer: Mailer, deps: IntakeDeps) -> None:
    reference = _created(mailer.send(mail().as_bytes()))
    incident_id = mailer.incidents()[0]["id"]
    carol = await _sent(mailer, deps, incident_id, "Carol@Example.com")
    by_message_id = mail(
        "Re: your ticket", "Carol here.", From="carol@example.com", In_Reply_To=f"<{carol}@tierline>"
    )
    code, text = mailer.send(by_message_id.as_bytes(), sender="carol@example.com")
    assert code == 250 and f"noted on TL-{reference}" in text
    by_reference = mail(f"Re: [TL-{reference}]", "Carol again.", From="carol@example.com")
    code, text = mailer.send(by_reference.as_bytes(), sender="carol@example.com")
    assert code == 250 and f"noted on TL-{reference}" in text
    assert _notes(mailer.incident(incident_id)) == ["Carol here.", "Carol again."]

    # a notification to a person's name (an agent) authorises no address: agents use the console
    dave = await _sent(mailer, deps, incident_id, "dave")
    reply = mail("Re: assigned", "Dave by mail.", From="dave@example.com", In_Reply_To=f"<{dave}@tierline>")
    _follow_up_of(
        mailer, mailer.send(reply.as_bytes(), sender="dave@example.com"), incident_id, "dave@example.com"
    )
    assert _notes(mailer.incident(incident_id)) == ["Carol here.", "Carol again."]
    recipients = await asyncio.to_thread(
        mailer.value, "SELECT string_agg(recipient, ',' ORDER BY recipient) FROM notification_threads"
    )
    assert recipients == "Carol@Example.com,dave"


# -- the per-sender rate ------------------------------------------------------------------------


def test_parallel_deliveries_from_one_sender_keep_to_the_rate(make_mailer: Callable[..., Mailer]) -> None:
    mailer = make_mailer(mail_rate="2/10m")
    start = threading.Barrier(10, timeout=30)

    def send(n: int) -> tuple[int, str]:
        raw = mail(f"Flood {n}").as_bytes()
        start.wait()  # all ten sessions deliver at once
        try:
            return mailer.send(raw)
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, exc.smtp_error.decode()

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(send, range(10)))
    assert sum(1 for code, text in answers if code == 250 and "created TL-" in text) == 2, answers
    assert len(mailer.incidents()) == 2
    outcomes = mailer.value(
        "SELECT string_agg(outcome || ':' || n, ',' ORDER BY outcome) FROM "
        "(SELECT outcome, count(*) AS n FROM mail_messages GROUP BY outcome) o"
    )
    assert outcomes == "created:2,held:8"


def _policy(rate_count: int = 2) -> MailPolicy:
    boxes = Mailboxes(mailboxes={SUPPORT: Mailbox(service="desk", category="general")})
    return MailPolicy(boxes, rate_count=rate_count, rate_window=timedelta(minutes=10))


async def test_a_held_mail_is_not_final_and_is_taken_in_after_the_window(
    sessions: Any, deps: IntakeDeps
) -> None:
    clock = deps.clock
    assert isinstance(clock, FixedClock)
    policy = _policy()

    async def take(raw: bytes) -> Outcome:
        session: AsyncSession
        async with sessions() as session, session.begin():
            return await ingest(deps.unit_of_work(session), deps, policy, raw, [SUPPORT])

    async def value(sql: str) -> Any:
        async with sessions() as session:
            return (await session.execute(text(sql))).scalar_one()

    assert [(await take(mail(f"Problem {n}").as_bytes())).outcome for n in range(2)] == ["created", "created"]
    held = mail("Problem 3", Message_ID="<held@example.com>").as_bytes()
    first = await take(held)
    assert (first.outcome, first.incident_id) == ("held", None) and "over 2 mails" in (first.reason or "")
    clock.advance(timedelta(minutes=5))
    assert (await take(held)).outcome == "held"  # the server's retry: held again, not a duplicate
    assert await value("SELECT outcome FROM mail_messages WHERE message_id = 'held@example.com'") == "held"

    clock.advance(
        timedelta(minutes=5, seconds=1)
    )  # the first two left the window; the held ones never counted
    taken = await take(held)
    assert taken.outcome == "created" and taken.incident_id is not None
    row = "SELECT outcome || ' ' || incident_id FROM mail_messages WHERE message_id = 'held@example.com'"
    assert await value(row) == f"created {taken.incident_id}"
    assert await value("SELECT count(*) FROM incidents") == 3
    again = await take(held)  # now it is final: a later copy is a duplicate
    assert (again.outcome, again.reason) == ("ignored", "duplicate Message-ID")
    assert await value("SELECT count(*) FROM incidents") == 3


# -- attachments --------------------------------------------------------------------------------


def test_a_refused_attachment_is_listed_with_the_hash_of_its_content(mailer: Mailer) -> None:
    executable = b"MZ\x90\x00not really a program"
    message = mail()
    message.add_attachment(executable, maintype="application", subtype="octet-stream", filename="setup.exe")
    _created(mailer.send(message.as_bytes()))
    incident_id = mailer.incidents()[0]["id"]
    (listed,) = mailer.client.get(f"/v1/incidents/{incident_id}/attachments").json()
    assert (listed["filename"], listed["stored"], listed["size"]) == ("setup.exe", False, len(executable))
    assert listed["refused"]
    assert listed["sha256"] == hashlib.sha256(executable).hexdigest()
