"""TLS on both mail paths, against real servers on the loopback interface and a throwaway CA
(tests/support/tls.py): the IMAP fetcher on a Dovecot that requires TLS (imaps and STARTTLS), refusing
a server it cannot trust and never sending LOGIN in clear; the SMTP receiver's STARTTLS, with AUTH
offered and taken only once the channel is encrypted (RFC 4954 section 4)."""

from __future__ import annotations

import base64
import logging
import smtplib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.support.dovecot import Dovecot, start_dovecot  # noqa: F401 - the fixture
from tests.support.tls import Pki, make_pki
from tierline_intake.config import Settings, hash_password
from tierline_shared import migrations
from tierline_shared.config_files import ConfigError

from .conftest import CONFIG_DIR, MIGRATIONS
from .test_mail_imap import Intake, mail
from .test_mail_smtp import SUPPORT, Mailer, make_mailer  # noqa: F401 - the fixture
from .test_mail_smtp import mail as smtp_mail

pytestmark = pytest.mark.integration
RELAY, RELAY_PASSWORD = "relay", "s3cret pass"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, on intake's own logger: starting the app replaces the root logger's handlers."""
    logger = logging.getLogger("tierline_intake")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="tierline_intake")
    yield caplog
    logger.removeHandler(caplog.handler)


def events(logged: pytest.LogCaptureFixture, name: str, level: int = logging.ERROR) -> list[dict[str, Any]]:
    """The structured lines of event ``name`` logged at ``level``."""
    return [
        r.msg
        for r in logged.records
        if isinstance(r.msg, dict) and r.msg.get("event") == name and r.levelno == level
    ]


@pytest.fixture
def make_intake(
    infra: Any,
    new_database: Callable[[str], str],
    start_dovecot: Callable[..., Dovecot],  # noqa: F811
) -> Iterator[Callable[..., Intake]]:
    """An intake (not started) on a fresh database, fetching from a Dovecot started with ``kwargs``."""
    with ExitStack() as stack:

        def make(**kwargs: Any) -> Intake:
            url = new_database("intake")
            migrations.upgrade(MIGRATIONS, url)
            return Intake(infra, url, start_dovecot(**kwargs), stack)

        yield make


def logins(server: Dovecot) -> list[str]:
    """Dovecot's log lines of successful logins (each names TLS when the session had it)."""
    log = (server.root / "dovecot.log").read_text(errors="replace")  # the whole of it
    return [line for line in log.splitlines() if "imap-login: Info: Login: user=<" in line]


# -- IMAP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["imaps", "starttls"])
def test_imap_over_tls_fetches_a_mail_into_an_incident(
    make_intake: Callable[..., Intake], pki: Pki, mode: str
) -> None:
    intake = make_intake(pki=pki)
    server = intake.server
    intake.append(mail("Over TLS"))
    port = server.imaps_port if mode == "imaps" else server.port
    intake.start(imap_tls=mode, imap_port=port, imap_ca_file=str(pki.ca_file))
    intake.processed(1)
    assert [i["title"] for i in intake.incidents()] == ["Over TLS"]
    assert intake.value("SELECT outcome FROM mail_messages") == "created"
    assert logins(server) and all(", TLS," in line for line in logins(server)), server.log()


@pytest.mark.parametrize("mode", ["imaps", "starttls"])
def test_an_untrusted_certificate_is_refused_and_retried_until_the_ca_file_is_given(
    make_intake: Callable[..., Intake], pki: Pki, mode: str, logged: pytest.LogCaptureFixture
) -> None:
    intake = make_intake(pki=pki)
    server = intake.server
    port = server.imaps_port if mode == "imaps" else server.port
    intake.append(mail())
    logins_before = len(logins(server))  # the test's own APPEND
    intake.start(imap_tls=mode, imap_port=port)  # the system's CAs only: ours is not among them
    refused = intake.wait(
        lambda: len(events(logged, "imap_tls_untrusted")) >= 2, "two refusals (a retry)", timeout=20
    )
    assert refused
    first = events(logged, "imap_tls_untrusted")[0]
    assert "CERTIFICATE_VERIFY_FAILED" in first["error"]
    assert "TIERLINE_IMAP_CA_FILE" in first["hint"] and first["tls"] == mode
    assert [e["attempt"] for e in events(logged, "imap_tls_untrusted")][:2] == [1, 2]
    assert len(logins(server)) == logins_before  # the password never left
    assert intake.folders() == ([1], [])
    assert intake.value("SELECT count(*) FROM mail_messages") == 0
    intake.stop()

    intake.start(imap_tls=mode, imap_port=port, imap_ca_file=str(pki.ca_file))
    intake.processed(1)
    assert len(intake.incidents()) == 1


def test_starttls_sends_no_login_when_the_server_offers_no_starttls(
    make_intake: Callable[..., Intake], pki: Pki, logged: pytest.LogCaptureFixture
) -> None:
    intake = make_intake()  # plain IMAP only (ssl = no): no STARTTLS in its capabilities
    intake.append(mail())
    logins_before = len(logins(intake.server))
    intake.start(imap_tls="starttls", imap_ca_file=str(pki.ca_file))
    intake.wait(lambda: len(events(logged, "imap_refused")) >= 2, "two refusals (a retry)", timeout=20)
    refusal = events(logged, "imap_refused")[0]
    assert "offers no STARTTLS" in refusal["error"] and refusal["tls"] == "starttls"
    log = intake.server.log()
    assert len(logins(intake.server)) == logins_before, log
    assert "no auth attempts" in log  # the server saw the fetcher leave without trying
    assert intake.folders() == ([1], [])
    assert intake.value("SELECT count(*) FROM mail_messages") == 0


def test_an_unreadable_ca_file_is_named_in_the_error(tmp_path: Path) -> None:
    from tierline_intake.mail import imap

    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    settings = Settings(
        imap_host="127.0.0.1",
        imap_username="u",
        imap_password="p",
        imap_ca_file=str(not_pem),
        imap_mailbox=SUPPORT,
        config_dir=CONFIG_DIR,
    )
    with pytest.raises(ConfigError, match=r"TIERLINE_IMAP_CA_FILE .*no readable PEM bundle"):
        imap.tls_context(settings)
    with pytest.raises(ConfigError, match="TIERLINE_IMAP_CA_FILE"):
        imap.tls_context(settings.model_copy(update={"imap_ca_file": str(tmp_path / "missing.pem")}))
    assert imap.tls_context(settings.model_copy(update={"imap_tls": "none"})) is None
    with pytest.raises(ValidationError, match="imap_tls"):
        Settings(imap_tls="ssl")


# -- SMTP ---------------------------------------------------------------------------------------


def _deliver(smtp: smtplib.SMTP, raw: bytes, sender: str = "alice@example.com") -> tuple[int, str]:
    assert smtp.mail(sender)[0] == 250
    assert smtp.rcpt(SUPPORT)[0] == 250
    code, text = smtp.data(raw.replace(b"\n", b"\r\n"))
    return code, text.decode()


def test_smtp_starttls_delivers_with_a_certificate_the_client_trusts(
    make_mailer: Callable[..., Mailer],  # noqa: F811
    pki: Pki,
) -> None:
    mailer = make_mailer(mail_tls_cert=str(pki.cert_file), mail_tls_key=str(pki.key_file))
    with smtplib.SMTP("127.0.0.1", mailer.port, timeout=30) as smtp:
        smtp.ehlo("tests.localhost")
        assert smtp.has_extn("starttls")
        assert smtp.starttls(context=pki.client_context())[0] == 220
        smtp.ehlo("tests.localhost")
        assert not smtp.has_extn("starttls")  # said once: the channel is encrypted now
        assert smtp.sock is not None and smtp.sock.version() in ("TLSv1.2", "TLSv1.3")  # type: ignore[attr-defined]
        code, text = _deliver(smtp, smtp_mail("Sent over TLS").as_bytes())
    assert code == 250 and "created TL-" in text
    assert [i["title"] for i in mailer.incidents()] == ["Sent over TLS"]


def test_a_client_that_does_not_trust_the_certificate_gets_no_session(
    make_mailer: Callable[..., Mailer],  # noqa: F811
    pki: Pki,
) -> None:
    import ssl

    mailer = make_mailer(mail_tls_cert=str(pki.cert_file), mail_tls_key=str(pki.key_file))
    smtp = smtplib.SMTP("127.0.0.1", mailer.port, timeout=30)
    try:
        smtp.ehlo("tests.localhost")
        with pytest.raises(ssl.SSLCertVerificationError):
            smtp.starttls(context=ssl.create_default_context())  # the system's CAs: ours is unknown
    finally:
        smtp.close()
    with smtplib.SMTP("127.0.0.1", mailer.port, timeout=30) as again:  # the receiver serves on
        again.ehlo("tests.localhost")
        again.starttls(context=pki.client_context())
        again.ehlo("tests.localhost")
        code, _ = _deliver(again, smtp_mail().as_bytes())
    assert code == 250 and len(mailer.incidents()) == 1


def test_auth_is_offered_and_taken_only_after_starttls(
    make_mailer: Callable[..., Mailer],  # noqa: F811
    pki: Pki,
) -> None:
    mailer = make_mailer(
        mail_tls_cert=str(pki.cert_file),
        mail_tls_key=str(pki.key_file),
        mail_auth_users=f"{RELAY}:{hash_password(RELAY_PASSWORD)}",
    )
    plain = base64.b64encode(f"\0{RELAY}\0{RELAY_PASSWORD}".encode()).decode()
    with smtplib.SMTP("127.0.0.1", mailer.port, timeout=30) as smtp:
        smtp.ehlo("tests.localhost")
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        code, text = smtp.docmd("AUTH", f"PLAIN {plain}")  # the password in clear: refused unread
        assert code == 538 and b"Encryption required" in text
        assert smtp.mail("alice@example.com")[0] == 530  # and nothing is taken without AUTH

        smtp.starttls(context=pki.client_context())
        smtp.ehlo("tests.localhost")
        assert set(smtp.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN"}
        wrong = base64.b64encode(f"\0{RELAY}\0wrong".encode()).decode()
        assert smtp.docmd("AUTH", f"PLAIN {wrong}")[0] == 535  # AUTH 2 of the 3 a session may send
        assert smtp.login(RELAY, RELAY_PASSWORD)[0] == 235
        code, text = _deliver(smtp, smtp_mail("Relayed").as_bytes())
    assert code == 250 and "created TL-" in text
    assert [i["title"] for i in mailer.incidents()] == ["Relayed"]
