"""A real SMTP server for whole-system runs: aiosmtpd on a free loopback port, in a background thread.

The e2e tests keep every message (parsed, with its envelope and when it arrived) to assert on it;
the chaos run and the pipeline bench keep only the Message-IDs and a count, so the notifier does its
real work (a full SMTP exchange per mail) without the test process paying for parsing. Every message
is accepted. ``settings()`` is what the launcher's ``development_settings`` gives `make run`: the
notifier's SMTP host and port (plain SMTP) and the link secret intake and the notifier share.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

from tierline_launcher.procs import free_port
from tierline_launcher.system import development_settings

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
LINK = re.compile(r"https?://[^\s\"'<>]+/v1/links/[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Mail:
    """One message as the server received it."""

    received_at: float  # time.monotonic() on arrival
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("subject", ""))

    @property
    def text(self) -> str:
        """The plain-text part, its transfer encoding undone (links read whole)."""
        body = self.message.get_body(preferencelist=("plain",))
        return str(body.get_content()) if body is not None else ""

    def links(self) -> list[str]:
        return LINK.findall(self.text)


class SmtpSink:
    """An SMTP server that accepts everything: ``keep`` the parsed messages, or only their Message-IDs."""

    def __init__(self, *, keep: bool = True, port: int | None = None) -> None:
        self.keep = keep
        self.port = port or free_port()
        self.mails: list[Mail] = []
        self.message_ids: Counter[str] = Counter()  # Message-ID -> times received
        self.received = 0
        self._lock = threading.Lock()
        # server_hostname: without it aiosmtpd asks DNS for our FQDN, which may hang offline
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, server_hostname="localhost")

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings(self, link_secret: str | None = None) -> dict[str, dict[str, str]]:
        """Per service, the settings that point the notifier here and share a link secret with intake.

        Intake's mail receiver is off (``make run`` puts it on the fixed port 2525, where two test
        systems would clash); a system that tests mail in gives it a free port of its own.
        """
        secret = link_secret or secrets.token_urlsafe(32)
        settings = development_settings({}, mail_port=self.port, link_secret=secret)
        settings["intake"]["TIERLINE_MAIL_LISTEN"] = ""
        return settings

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        head = raw.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        mail = None
        if self.keep:
            message = BytesParser(policy=policy.default).parsebytes(raw)
            assert isinstance(message, EmailMessage)
            mail = Mail(time.monotonic(), envelope.mail_from or "", tuple(envelope.rcpt_tos), message)
        with self._lock:
            self.received += 1
            if found:
                self.message_ids[found.group(1).decode("ascii", errors="replace")] += 1
            if mail is not None:
                self.mails.append(mail)
        return "250 Message accepted for delivery"

    def ids(self) -> Counter[str]:
        """The Message-IDs received so far, each with how many times."""
        with self._lock:
            return self.message_ids.copy()

    def to(self, address: str, match: Callable[[Mail], bool] = lambda m: True) -> list[Mail]:
        """The kept messages addressed to ``address`` (envelope recipient) that ``match``."""
        with self._lock:
            mails = list(self.mails)
        return [m for m in mails if address in m.rcpt_tos and match(m)]
