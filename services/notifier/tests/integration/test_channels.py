"""The channels against real servers on loopback: an aiosmtpd SMTP server and an aiohttp receiver
speaking Mattermost's (Slack-compatible) incoming webhook, each started by the test on a free port."""

from __future__ import annotations

import email.policy
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tierline_launcher.procs import free_port
from tierline_notifier.adapters import channels
from tierline_notifier.adapters.channels import Email, SendError, SmtpSettings
from tierline_shared.testing import eventually

pytestmark = pytest.mark.integration


class Mailbox:
    """aiosmtpd handler: keeps what arrives; refuses recipients at ``unknown.example`` with a 550."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.endswith("@unknown.example"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope, parsed))
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, SmtpSettings]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield (
            mailbox,
            SmtpSettings(host="127.0.0.1", port=controller.port, from_address="Tierline <t@example.com>"),
        )
    finally:
        controller.stop()


async def test_an_email_arrives_as_text_and_html_with_its_headers(
    smtp_server: tuple[Mailbox, SmtpSettings],
) -> None:
    mailbox, smtp = smtp_server
    mail = Email(
        to="alice@example.com",
        subject="INC-7 is assigned to you",
        text="Acknowledge: https://tierline.example/ack/x",
        html="<p>Acknowledge: <a href='https://tierline.example/ack/x'>here</a></p>",
        message_id="<0b6f2a4e@tierline>",
        headers={"X-Tierline-Incident": "INC-7"},
    )
    await channels.send_email(smtp, mail)
    [(envelope, message)] = await eventually(lambda: mailbox.messages, timeout=5, what="the mail arriving")
    assert (envelope.mail_from, envelope.rcpt_tos) == ("t@example.com", ["alice@example.com"])
    assert message["Subject"] == "INC-7 is assigned to you" and message["To"] == "alice@example.com"
    assert message["Message-ID"] == "<0b6f2a4e@tierline>" and message["Auto-Submitted"] == "auto-generated"
    assert message["X-Tierline-Incident"] == "INC-7" and message["Date"] is not None
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    assert "https://tierline.example/ack/x" in text.get_content() and "<a href=" in html.get_content()


async def test_an_unknown_recipient_is_a_permanent_failure(smtp_server: tuple[Mailbox, SmtpSettings]) -> None:
    mailbox, smtp = smtp_server
    with pytest.raises(SendError, match=r"550 5\.1\.1 no such user here") as failed:
        await channels.send_email(smtp, Email("bob@unknown.example", "s", "t", None, "<1@tierline>"))
    assert failed.value.transient is False and mailbox.messages == []


async def test_no_smtp_server_listening_is_a_transient_failure() -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), timeout=5)
    with pytest.raises(SendError, match="cannot reach the SMTP server") as failed:
        await channels.send_email(smtp, Email("alice@example.com", "s", "t", None, "<2@tierline>"))
    assert failed.value.transient is True


class Mattermost:
    """Mattermost's incoming webhook: POST /hooks/<token> with JSON {"text": …}; ``status`` to answer."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.posts: list[tuple[str, dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, await request.json()))
        return web.Response(status=self.status, text="ok" if self.status == 200 else "internal error")


@pytest.fixture
async def mattermost() -> AsyncIterator[Mattermost]:
    receiver = Mattermost()
    app = web.Application()
    app.router.add_post("/hooks/{token}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def test_a_chat_message_arrives_with_its_title_and_body(mattermost: Mattermost) -> None:
    url = channels.chat_url("mattermost", f"http://127.0.0.1:{mattermost.port}/hooks/tok3n")
    await channels.send_chat(
        url, title="INC-7 assigned to you", body="VPN down, P1", allow_hosts=["127.0.0.1"]
    )
    [(path, payload)] = await eventually(lambda: mattermost.posts, timeout=5, what="the post arriving")
    assert path == "/hooks/tok3n"
    assert "INC-7 assigned to you" in payload["text"] and "VPN down, P1" in payload["text"]


async def test_a_receiver_answering_500_is_a_transient_failure_with_apprises_reason(
    mattermost: Mattermost,
) -> None:
    mattermost.status = 500
    url = channels.chat_url("mattermost", f"http://127.0.0.1:{mattermost.port}/hooks/tok3n")
    with pytest.raises(SendError) as failed:
        await channels.send_chat(url, title="t", body="b", allow_hosts=["127.0.0.0/8"])
    assert failed.value.transient is True
    assert "Mattermost" in str(failed.value) and "500" in str(failed.value)
    assert len(mattermost.posts) == 1


async def test_loopback_not_allow_listed_is_refused_before_any_request(mattermost: Mattermost) -> None:
    for url in (
        f"https://127.0.0.1:{mattermost.port}/hooks/tok3n",
        f"https://localhost:{mattermost.port}/hooks/tok3n",
    ):
        with pytest.raises(SendError, match="refused by the SSRF guard") as refused:
            await channels.send_chat(
                channels.chat_url("mattermost", url), title="t", body="b", allow_hosts=[]
            )
        assert refused.value.transient is False
    with pytest.raises(SendError, match="must use https"):  # allowed by CIDR, but plain http needs the name
        await channels.send_chat(
            f"mmost://localhost:{mattermost.port}/tok3n", title="t", body="b", allow_hosts=["127.0.0.0/8"]
        )
    assert mattermost.posts == []


async def test_nothing_listening_is_a_transient_failure() -> None:
    url = channels.chat_url("webhook", f"http://127.0.0.1:{free_port()}/in")
    with pytest.raises(SendError) as failed:
        await channels.send_chat(url, title="t", body="b", allow_hosts=["127.0.0.1"])
    assert failed.value.transient is True and "JSON" in str(failed.value)
