"""The email channel's settings, mailboxes file, SMTP answers and download headers (pure)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from tierline_intake.config import Settings, hash_password, mail_auth_users, mail_rate
from tierline_intake.entrypoints.attachments_api import content_disposition
from tierline_intake.mail.ingest import MailPolicy, Outcome
from tierline_intake.mail.mailboxes import load_mailboxes
from tierline_intake.mail.smtp import reply
from tierline_shared.config_files import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"


def test_the_rate_is_a_count_per_window() -> None:
    assert mail_rate("20/10m") == (20, 600.0)
    assert mail_rate("3/1h") == (3, 3600.0)
    for bad in ("20", "0/10m", "x/10m", "20/nonsense", "-1/1m"):
        with pytest.raises(ValueError):
            mail_rate(bad)
    with pytest.raises(ValidationError, match="mail_rate"):
        Settings(mail_rate="lots")


def test_auth_users_are_hashes_and_a_bad_one_is_named_by_its_user() -> None:
    encoded = hash_password("pw")
    users = mail_auth_users(f"relay:{encoded}, other:{encoded}")
    assert set(users) == {"relay", "other"} and users["relay"].verify(b"pw")
    assert not users["relay"].verify(b"pw2")
    with pytest.raises(ValueError, match="'relay'"):
        mail_auth_users("relay:not-a-hash")
    assert Settings(mail_auth_users="").mail_auth_users is None  # compose passes an unset one as ""
    with pytest.raises(ValidationError):
        Settings(mail_listen="nowhere")


def test_the_shipped_mailboxes_load(tmp_path: Path) -> None:
    boxes = load_mailboxes(Settings(config_dir=CONFIG_DIR, mail_listen="127.0.0.1:2525"))
    support = boxes.find("<Support@Tierline.localhost>")
    assert support is not None and support.type == "incident"
    vpn = boxes.first(["nobody@x.example", "vpn@tierline.localhost"])
    assert vpn is not None and (vpn[1].service, vpn[1].category) == ("vpn", "network")
    assert boxes.find("nobody@tierline.localhost") is None


def test_a_bad_mailboxes_file_refuses_the_start_naming_the_entry(tmp_path: Path) -> None:
    (tmp_path / "mailboxes.yaml").write_text(
        "mailboxes:\n  help@x.example: {service: desk, category: general, impact: huge}\n"
    )
    with pytest.raises(ConfigError, match=r"help@x\.example\.impact"):
        load_mailboxes(Settings(config_dir=tmp_path))
    (tmp_path / "mailboxes.yaml").write_text("mailboxes:\n  not-an-address: {service: a, category: b}\n")
    with pytest.raises(ConfigError, match="not-an-address"):
        load_mailboxes(Settings(config_dir=tmp_path))
    (tmp_path / "mailboxes.yaml").unlink()
    assert load_mailboxes(Settings(config_dir=tmp_path)).mailboxes == {}  # no receiver: none needed
    with pytest.raises(ConfigError, match="TIERLINE_MAIL_LISTEN"):
        load_mailboxes(Settings(config_dir=tmp_path, mail_listen="127.0.0.1:2525"))


def test_the_policy_follows_the_settings() -> None:
    settings = Settings(config_dir=CONFIG_DIR, mail_rate="5/1m", mail_attachment_max_bytes=7)
    policy = MailPolicy.of(settings, load_mailboxes(settings))
    assert (policy.rate_count, policy.rate_window.total_seconds(), policy.attachment_max_bytes) == (5, 60, 7)


def test_smtp_answers_name_the_outcome_on_one_ascii_line() -> None:
    incident = uuid.UUID("1a2b3c4d-0000-4000-8000-000000000000")
    assert reply(Outcome("created", incident)) == "250 2.0.0 created TL-1A2B3C4D"
    assert reply(Outcome("noted", incident)) == "250 2.0.0 noted on TL-1A2B3C4D"
    assert reply(Outcome("held", reason="over 20")) == "451 4.7.1 over 20, try again later"
    assert reply(Outcome("rejected", reason="bad\r\nMIME é")) == "550 5.6.0 Rejected: bad MIME ?"


def test_downloads_name_the_file_for_every_browser() -> None:
    assert content_disposition('Rapport "été".pdf') == (
        "attachment; filename=\"Rapport __t__.pdf\"; filename*=UTF-8''Rapport%20%22%C3%A9t%C3%A9%22.pdf"
    )
    assert content_disposition("a;b\r\n.txt").startswith('attachment; filename="a_b__.txt";')
