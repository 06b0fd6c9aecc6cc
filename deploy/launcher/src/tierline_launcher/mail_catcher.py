"""A development mail catcher: an SMTP server that delivers nothing and writes every mail to a log.

`make run` starts one (127.0.0.1:1025, ``TIERLINE_RUN_MAIL_PORT``) in the launcher's process and
points the notifier at it, so a newcomer reads the notifications in ``.run/logs/mail.log``: a
separator line with the time and the envelope, then the headers and the text part, decoded
(quoted-printable and base64 undone, so links can be read and clicked). Each mail also gets one
progress line on the console. It runs on its own, too:

    python -m tierline_launcher.mail_catcher --port 1025 --log mail.log

The SMTP server is aiosmtpd's, on an event loop in a background thread (its ``Controller``).
"""

from __future__ import annotations

import argparse
import errno
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tierline_launcher.procs import port_is_free, say

DEFAULT_PORT = 1025
SEPARATOR_WIDTH = 100


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _size(part: MIMEPart) -> str:
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else 0
    return f"{size / 1024:.1f} kB" if size >= 1024 else f"{size} B"


def _text_of(part: MIMEPart) -> str:
    """A text part's content with its transfer encoding and charset undone."""
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AssertionError):  # unknown charset, broken encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)


def render(mail_from: str, rcpt_tos: list[str], raw: bytes, received_at: datetime) -> tuple[str, str]:
    """(the log entry, the subject) of one received message, readable by people."""
    when = received_at.isoformat(timespec="seconds")
    head = f"==== {when}  from {mail_from or '<>'}  to {', '.join(rcpt_tos)} "
    lines = [head + "=" * max(4, SEPARATOR_WIDTH - len(head))]
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        lines += [f"{name}: {_one_line(value)}" for name, value in message.items()]
        subject = _one_line(message.get("subject", "(no subject)"))
        body = message.get_body(preferencelist=("plain", "html"))
        lines.append("")
        if body is None:
            lines.append("(no text part)")
        else:
            if body.get_content_subtype() == "html":
                lines.append("(HTML only; no plain-text part)")
            lines.append(_text_of(body).rstrip("\n"))
        others = [part for part in message.walk() if not part.is_multipart() and part is not body]
        if others:
            lines.append("")
        for part in others:
            name = part.get_filename()
            what = f"attachment {name!r}" if name else "part"
            lines.append(f"[{what}: {part.get_content_type()}, {_size(part)}, not shown]")
    except Exception as exc:  # noqa: BLE001 - a mail we cannot parse is still shown, as it came
        subject = "(unparsable message)"
        lines += [f"(could not parse the message: {exc}; as received:)", "", raw.decode("utf-8", "replace")]
    return "\n".join(lines) + "\n\n", subject


class _Handler:
    """aiosmtpd's handler: accepts every message and hands it to the catcher."""

    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        self.catcher.record(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        return "250 Message accepted for delivery"


class MailCatcher:
    """The SMTP server and its log; ``start()`` returns once it accepts connections."""

    def __init__(
        self,
        log_path: Path,
        *,
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        announce: Callable[[str], None] = say,
    ) -> None:
        self.log_path = log_path
        self.host = host
        self.port = port
        self.announce = announce
        self.received = 0
        self._lock = threading.Lock()
        # server_hostname: without it aiosmtpd asks DNS for our FQDN, which may hang offline
        self._controller = Controller(_Handler(self), hostname=host, port=port, server_hostname="localhost")
        self._running = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> MailCatcher:
        if not port_is_free(self.port):  # aiosmtpd would only say so after its ready timeout
            raise OSError(errno.EADDRINUSE, f"the mail catcher's port {self.port} is in use")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        """Append one message to the log and say so on the console."""
        entry, subject = render(mail_from, rcpt_tos, raw, datetime.now().astimezone())
        # O_NOFOLLOW, as for the service logs: a link planted in the logs folder leads nowhere
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        with self._lock:
            with os.fdopen(os.open(self.log_path, flags, 0o644), "a", encoding="utf-8") as log:
                log.write(entry)
            self.received += 1
        self.announce(f"mail to {', '.join(rcpt_tos)}: {subject}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tierline-mail-catcher", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log", type=Path, default=Path("mail.log"), help="where the mail is written")
    args = parser.parse_args(argv)
    with MailCatcher(args.log.resolve(), port=args.port, host=args.host) as catcher:
        say(f"mail catcher on smtp://{catcher.address}; mail goes to {catcher.log_path} (Ctrl-C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
