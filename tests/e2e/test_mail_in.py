"""Mail in, across the whole system: a mail to a mailbox opens an incident, the notifier tells the
sender its reference, a reply to that mail becomes a note on it, and an auto-reply changes nothing.

Intake answers a mail's DATA only once it has committed what the mail became (smtp.py), so the
incident, a note or the lack of one is there to read as soon as smtplib returns; what other services
do (the router's assignment, the notifier's mail, its ``notification.sent`` reaching intake) is waited
for with a deadline.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, System
from tests.support.mailbox import Mail
from tierline_launcher.procs import accepts_connections
from tierline_shared.testing import eventually

pytestmark = pytest.mark.e2e

MAILBOX = "vpn@tierline.localhost"  # deploy/config/mailboxes.yaml: service vpn, category network
DEADLINE_S = 20.0
REFERENCE = re.compile(r"^\[(TL-[0-9A-F]{8})\] ")
NOTIFICATION_ID = re.compile(r"^<([0-9a-f-]{36})@tierline>$")


def _mail(sender: str, subject: str, text: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Rita Remote <{sender}>"
    message["To"] = MAILBOX
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message


def _send_now(port: int, sender: str, message: EmailMessage) -> tuple[int, str]:
    """One SMTP exchange; intake's answer to DATA (code, text)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo()
        code, answer = smtp.mail(sender)
        assert code == 250, answer
        code, answer = smtp.rcpt(MAILBOX)
        assert code == 250, answer
        code, answer = smtp.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
    return code, answer.decode()


async def _send(system: System, sender: str, message: EmailMessage) -> tuple[int, str]:
    return await asyncio.to_thread(_send_now, system.mail_port, sender, message)


def _reporter_mail(incident_id: str):
    return lambda m: (
        m.message["X-Tierline-Kind"] == "reporter_created" and m.message["X-Tierline-Incident"] == incident_id
    )


async def test_a_mail_opens_an_incident_and_replies_to_its_reference_mail_become_notes(
    system: System,
) -> None:
    intake = system.url("intake")
    sender = f"rita-{uuid.uuid4().hex[:8]}@example.com"
    subject = f"VPN drops every ten minutes {uuid.uuid4().hex[:6]}"
    await eventually(
        lambda: asyncio.to_thread(accepts_connections, system.mail_port),
        timeout=DEADLINE_S,
        what="intake's SMTP receiver",
    )
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:

        async def incident(incident_id: str) -> dict:
            answer = await http.get(f"{intake}/v1/incidents/{incident_id}")
            assert answer.status_code == 200, answer.text
            return answer.json()

        async def by_email() -> list[dict]:
            answer = await http.get(f"{intake}/v1/incidents", params={"channel": "email", "limit": 200})
            assert answer.status_code == 200, answer.text
            return answer.json()["items"]

        # 1. the mail: intake answers with the new incident's reference once it is committed
        code, answer = await _send(system, sender, _mail(sender, subject, "Since 09:10 every tunnel drops."))
        assert code == 250, answer
        created = re.fullmatch(r"2\.0\.0 created (TL-[0-9A-F]{8})", answer)
        assert created, answer
        reference = created.group(1)
        listed = await eventually(
            lambda: _when(by_email, lambda items: [i for i in items if i["title"] == subject]),
            timeout=DEADLINE_S,
            what="the email incident in GET /v1/incidents?channel=email",
        )
        assert len(listed) == 1, listed
        incident_id = listed[0]["id"]
        assert "TL-" + uuid.UUID(incident_id).hex[:8].upper() == reference
        opened = await incident(incident_id)
        assert (opened["channel"], opened["reporter"]) == ("email", sender)
        assert (opened["service"], opened["category"], opened["impact"], opened["urgency"]) == (
            "vpn",
            "network",
            "medium",
            "high",
        )
        assert opened["title"] == subject
        assert "Since 09:10 every tunnel drops." in opened["description"]
        received = [t for t in opened["timeline"] if t["kind"] == "email"]
        assert [t["summary"] for t in received] == [f"Received by email from {sender}"]

        # 2. the notifier's "we have your ticket" mail to the sender carries the reference
        mails: list[Mail] = await eventually(
            lambda: system.mail.to(sender, _reporter_mail(incident_id)),
            timeout=DEADLINE_S,
            what="the reporter's 'we have your ticket' mail",
        )
        assert len(mails) == 1, [m.subject for m in mails]
        ticket = mails[0].message
        quoted = REFERENCE.match(mails[0].subject)
        assert quoted and quoted.group(1) == reference, mails[0].subject
        assert ticket["Auto-Submitted"] == "auto-generated"
        ticket_id = str(ticket["Message-ID"])
        assert NOTIFICATION_ID.match(ticket_id), ticket_id

        # 3. the sender answers it: a note on the same incident, no second incident
        reply = _mail(
            sender,
            f"Re: {mails[0].subject}",
            "It dropped again at 11:40, from home and from the office.",
            In_Reply_To=ticket_id,
            References=ticket_id,
        )
        code, answer = await _send(system, sender, reply)
        assert (code, answer) == (250, f"2.0.0 noted on {reference}")
        noted = await incident(incident_id)
        notes = [t for t in noted["timeline"] if t["kind"] == "note"]
        assert len(notes) == 1 and "It dropped again at 11:40" in notes[0]["summary"], notes
        assert [t["summary"] for t in noted["timeline"] if t["kind"] == "email"] == [
            f"Received by email from {sender}",
            f"Reply by email from {sender}",
        ]
        assert [i["id"] for i in await by_email()] == [incident_id]

        # 4. a reply naming the notification only (no reference in the subject) threads by
        # In-Reply-To: intake learnt the mail's incident from the notifier's notification.sent
        await eventually(
            lambda: _when(
                lambda: incident(incident_id),
                lambda v: [
                    t
                    for t in v["timeline"]
                    if t["kind"] == "notified" and f"the reporter {sender}" in t["summary"]
                ],
            ),
            timeout=DEADLINE_S,
            what="intake's 'notified' line for the reporter (notification.sent)",
        )
        bare = _mail(
            sender,
            "Re: your ticket",
            "Still dropping after the client update.",
            In_Reply_To=ticket_id,
            References=ticket_id,
        )
        code, answer = await _send(system, sender, bare)
        assert (code, answer) == (250, f"2.0.0 noted on {reference}")
        threaded = await incident(incident_id)
        notes = [t for t in threaded["timeline"] if t["kind"] == "note"]
        assert len(notes) == 2 and "Still dropping after the client update." in notes[1]["summary"], notes
        assert [i["id"] for i in await by_email()] == [incident_id]

        # 5. an auto-reply to the reference mail (RFC 3834) is taken in and changes nothing
        before = await incident(incident_id)
        auto = _mail(
            sender,
            f"Automatic reply: {mails[0].subject}",
            "I am out of the office until Monday.",
            In_Reply_To=ticket_id,
            References=ticket_id,
            Auto_Submitted="auto-replied",
        )
        code, answer = await _send(system, sender, auto)
        assert (code, answer) == (250, "2.0.0 ignored: auto-submitted: auto-replied")
        after = await incident(incident_id)
        assert len(after["timeline"]) >= len(before["timeline"])
        mine = ("note", "email", "reopened")
        assert [t for t in after["timeline"] if t["kind"] in mine] == [
            t for t in before["timeline"] if t["kind"] in mine
        ]
        assert after["status"] == before["status"] == "open"
        assert [i["id"] for i in await by_email()] == [incident_id]

        # the same mail again (a sending server's retry) is a duplicate: ignored, nothing added
        code, answer = await _send(system, sender, reply)
        assert (code, answer) == (250, "2.0.0 ignored: duplicate Message-ID")
        again = await incident(incident_id)
        assert len([t for t in again["timeline"] if t["kind"] == "note"]) == 2


async def _when(fetch, predicate):
    value = await fetch()
    return value if predicate(value) else None
