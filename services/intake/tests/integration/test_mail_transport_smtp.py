"""The SMTP receiver's transport rules on the real aiosmtpd, PostgreSQL and Kafka: a held mail is
answered 451 (the sender retries and gets through once under the rate), per-session command limits,
the connection cap, the null envelope sender, and where AUTH's scrypt runs."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from prometheus_client import REGISTRY

from tierline_intake.config import PasswordHash, hash_password, mail_auth_users
from tierline_intake.mail.smtp import Authenticator
from tierline_shared.testing import eventually

from .test_mail_smtp import Mailer, _created, mail, mailer, make_mailer  # noqa: F401 - the fixtures

pytestmark = pytest.mark.integration


def received(outcome: str) -> float:
    return REGISTRY.get_sample_value("tierline_mail_received_total", {"outcome": outcome}) or 0.0


def _line(sock: socket.socket) -> bytes:
    """One reply line from the server (b"" when it closed the connection)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def sockets() -> Iterator[Callable[[int], socket.socket]]:
    with ExitStack() as stack:

        def connect(port: int) -> socket.socket:
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            return sock

        yield connect


def test_a_held_mail_is_answered_451_and_gets_through_when_sent_again_under_the_rate(
    make_mailer: Callable[..., Mailer],  # noqa: F811
) -> None:
    smtp_in = make_mailer(mail_rate="1/4s")
    _created(smtp_in.send(mail("First").as_bytes()))
    held = mail("Second", Message_ID="<second@example.com>").as_bytes()
    code, text = smtp_in.send(held)
    assert code == 451 and text.startswith("4.7.1 ") and text.endswith("try again later"), (code, text)
    assert len(smtp_in.incidents()) == 1
    # the sending server's retries: 451 while the sender is over the rate, then taken in
    retried = asyncio.run(
        eventually(lambda: smtp_in.send(held)[0] == 250, timeout=20, interval=0.5, what="the retry taken")
    )
    assert retried
    assert sorted(i["title"] for i in smtp_in.incidents()) == ["First", "Second"]
    assert smtp_in.value("SELECT outcome FROM mail_messages WHERE subject = 'Second'") == "created"


def test_a_null_envelope_sender_is_automatic_mail_and_ignored(mailer: Mailer) -> None:  # noqa: F811
    """MAIL FROM:<> is a bounce or an auto-reply (RFC 5321 4.5.5, RFC 3834), whatever its headers say.

    Waits on F-1's parse(raw, envelope_sender=…) and on ingest forwarding its mail_from to it."""
    code, text = mailer.send(mail("Away", "Away until Monday.").as_bytes(), sender="")
    assert code == 250 and "ignored" in text, (code, text)
    assert mailer.incidents() == []
    assert mailer.value("SELECT outcome FROM mail_messages") == "ignored"


def test_an_oversize_mail_is_counted_as_too_big(make_mailer: Callable[..., Mailer]) -> None:  # noqa: F811
    smtp_in = make_mailer(mail_max_bytes=4096)
    before = received("too_big")
    code, _ = smtp_in.send(mail(body="x" * 8000).as_bytes())
    assert code == 552
    assert received("too_big") == before + 1


def test_auth_beyond_three_attempts_closes_the_session(make_mailer: Callable[..., Mailer]) -> None:  # noqa: F811
    smtp_in = make_mailer(mail_auth_users=f"relay:{hash_password('s3cret pass')}")
    wrong = base64.b64encode(b"\0relay\0wrong").decode()
    with smtplib.SMTP("127.0.0.1", smtp_in.port, timeout=30) as smtp:
        smtp.ehlo("tests.localhost")
        codes = [smtp.docmd("AUTH", f"PLAIN {wrong}")[0] for _ in range(3)]
        assert codes == [535, 535, 535]
        code, text = smtp.docmd("AUTH", f"PLAIN {wrong}")
        assert code == 421 and b"AUTH" in text, (code, text)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.docmd("NOOP")
    _created(smtp_in.send(mail().as_bytes(), login=("relay", "s3cret pass")))  # a new session may


def test_the_21st_connection_is_refused_with_421_while_20_are_open(
    mailer: Mailer,  # noqa: F811
    sockets: Callable[[int], socket.socket],
) -> None:
    def sessions_open() -> float | None:
        labels = {"listen": f"127.0.0.1:{mailer.port}"}
        return REGISTRY.get_sample_value("tierline_mail_connections_open", labels)

    # the readiness probe's connection has gone: nothing else holds a place
    asyncio.run(eventually(lambda: sessions_open() == 0, what="no session open"))
    open_ = [sockets(mailer.port) for _ in range(20)]
    for sock in open_:
        assert _line(sock).startswith(b"220 "), "each of the 20 is greeted"
    assert sessions_open() == 20
    extra = sockets(mailer.port)
    assert _line(extra) == b"421 4.3.2 too many connections\r\n"  # while 20 are open
    assert extra.recv(100) == b"", "and closed"
    open_[0].sendall(b"QUIT\r\n")
    assert _line(open_[0]).startswith(b"221")

    def greeted() -> bool:  # one session ended: its place is free again
        with socket.create_connection(("127.0.0.1", mailer.port), timeout=10) as sock:
            return _line(sock).startswith(b"220 ")

    assert asyncio.run(eventually(greeted, what="a connection taken once one closed"))


def test_auth_checks_run_on_their_own_threads_and_unknown_users_cost_the_same(
    make_mailer: Callable[..., Mailer],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []
    real = PasswordHash.verify

    def verify(self: PasswordHash, password: bytes) -> bool:
        threads.append(threading.current_thread().name)
        return real(self, password)

    monkeypatch.setattr(PasswordHash, "verify", verify)
    smtp_in = make_mailer(mail_auth_users=f"relay:{hash_password('s3cret pass')}")
    _created(smtp_in.send(mail().as_bytes(), login=("relay", "s3cret pass")))
    with pytest.raises(smtplib.SMTPAuthenticationError):
        smtp_in.send(mail().as_bytes(), login=("nobody", "s3cret pass"))
    assert threads and all(name.startswith("mail-auth") for name in threads), threads

    cheap = mail_auth_users(f"relay:{hash_password('pw', n=2**14, r=4)}")
    with ThreadPoolExecutor(1) as pool:
        nobody = Authenticator(cheap, pool).nobody
    assert (nobody.n, nobody.r, nobody.p) == (2**14, 4, 1)  # the configured user's cost, not the default
