"""The development mail catcher: real SMTP in, readable (decoded) mail in the log, a line per mail."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tierline_launcher.mail_catcher import MailCatcher, main
from tierline_launcher.procs import free_port, port_is_free
from tierline_shared.testing import eventually

LINK = "http://127.0.0.1:8001/v1/links/acknowledge?token=eyJwdXJwb3NlIjoiYWNrbm93bGVkZ2UifQ.Zm9vYmFy-long_enough_to_be_wrapped_by_quoted_printable"


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[tuple[MailCatcher, list[str]]]:
    said: list[str] = []
    with MailCatcher(tmp_path / "logs" / "mail.log", port=free_port(), announce=said.append) as running:
        yield running, said


def _log(catcher: MailCatcher) -> str:
    return catcher.log_path.read_text(encoding="utf-8") if catcher.log_path.exists() else ""


def _send(catcher: MailCatcher, message: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as smtp:
        smtp.send_message(message, to_addrs=to)


def _assignment() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Tierline <tierline@example.com>"
    message["To"] = "alice@example.com"
    message["Subject"] = "[TL-0042] P1 VPN down for sales — assigned to you (L2)"
    message["Message-ID"] = "<notification-1@tierline>"
    # non-ASCII and long lines: the text part goes out quoted-printable, the HTML one base64
    message.set_content(f"Hallo Alice — VPN down for sales.\nAcknowledge: {LINK}\n", cte="quoted-printable")
    message.add_alternative(
        f'<p>Hallo Alice — <a href="{LINK}">acknowledge</a></p>', subtype="html", cte="base64"
    )
    return message


async def test_a_multipart_mail_is_logged_with_its_headers_and_decoded_text(
    catcher: tuple[MailCatcher, list[str]],
) -> None:
    running, said = catcher
    _send(running, _assignment(), to=["alice@example.com", "lead@example.com"])
    log = await eventually(lambda: _log(running) or None, timeout=10, what="the mail in the log")
    separator, *rest = log.splitlines()
    assert separator.startswith("==== ") and separator.endswith("=")
    assert "from tierline@example.com  to alice@example.com, lead@example.com" in separator
    assert "Subject: [TL-0042] P1 VPN down for sales — assigned to you (L2)" in rest
    assert "To: alice@example.com" in rest and "Message-ID: <notification-1@tierline>" in rest
    # decoded: the link is whole (no "=\n" soft breaks, no "=3D"), the text is not base64
    assert f"Acknowledge: {LINK}" in rest
    assert "Hallo Alice — VPN down for sales." in rest
    assert "=3D" in _assignment().as_string(), "on the wire the link is quoted-printable"
    assert "=3D" not in log and "Content-Type: multipart/alternative" in log
    assert any(line.startswith("[part: text/html, ") for line in rest), "the HTML part is mentioned"
    assert said == [
        "mail to alice@example.com, lead@example.com: [TL-0042] P1 VPN down for sales — assigned to you (L2)"
    ]
    assert running.received == 1


async def test_mails_are_appended_in_order_and_an_html_only_mail_shows_its_html(
    catcher: tuple[MailCatcher, list[str]],
) -> None:
    running, said = catcher
    _send(running, _assignment())
    html_only = EmailMessage()
    html_only["From"] = "tierline@example.com"
    html_only["To"] = "bob@example.com"
    html_only["Subject"] = "=?utf-8?q?Gel=C3=B6st?="  # an encoded word, decoded in the log
    html_only.set_content(f'<a href="{LINK}">Rate us</a>', subtype="html", cte="base64")
    html_only.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="report.pdf")
    _send(running, html_only)
    await eventually(lambda: running.received == 2, timeout=10, what="two mails")
    log = _log(running)
    first, second = log.index("to alice@example.com"), log.index("to bob@example.com")
    assert first < second and log.count("\n==== ") + log.startswith("==== ") == 2
    later = log[second:]
    assert "(HTML only; no plain-text part)" in later and f'<a href="{LINK}">Rate us</a>' in later
    assert "Subject: Gelöst" in later
    assert "[attachment 'report.pdf': application/pdf, 8 B, not shown]" in later
    assert said[1] == "mail to bob@example.com: Gelöst"


async def test_an_unparsable_message_is_kept_as_it_came(catcher: tuple[MailCatcher, list[str]]) -> None:
    running, said = catcher
    with smtplib.SMTP(running.host, running.port, timeout=10) as smtp:
        smtp.sendmail("x@example.com", ["y@example.com"], b"Subject: plain\r\n\r\nno structure at all\r\n")
    log = await eventually(lambda: _log(running) or None, timeout=10, what="the mail in the log")
    assert "Subject: plain" in log and "no structure at all" in log
    assert said == ["mail to y@example.com: plain"]


def test_stopping_frees_the_port(tmp_path: Path) -> None:
    port = free_port()
    catcher = MailCatcher(tmp_path / "mail.log", port=port, announce=lambda _: None).start()
    assert not port_is_free(port)
    catcher.stop()
    assert port_is_free(port)
    catcher.stop()  # twice is harmless (the launcher's cleanup may run after a failed start)


def test_a_busy_port_fails_to_start(tmp_path: Path) -> None:
    port = free_port()
    with MailCatcher(tmp_path / "a.log", port=port, announce=lambda _: None):
        with pytest.raises(OSError, match=f"port {port} is in use"):
            MailCatcher(tmp_path / "b.log", port=port, announce=lambda _: None).start()


def test_the_command_line_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--port", "smtp"])
    assert exited.value.code == 2 and "--port" in capsys.readouterr().err
