"""Sessions sealed with Fernet: what goes in comes out, and nothing altered, foreign or stale opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from tierline_console.config import MissingSecret, Settings
from tierline_console.sessions import (
    Identity,
    Sealer,
    SigninToken,
    cookie_is_secure,
    new_session,
    same_token,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY, OLD_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
ALICE = Identity(id="7d1c", name="alice's console", scopes=["incidents:write"], person="alice")


def sealer(*keys: str, hours: float = 12) -> Sealer:
    return Sealer(list(keys) or [KEY], timedelta(hours=hours))


def test_a_sealed_session_opens_to_what_was_sealed_and_hides_the_key() -> None:
    session = new_session("tl_secret-key-of-alice", ALICE, T0)
    token = sealer().seal(session, T0)
    assert "tl_secret-key-of-alice" not in token and "alice" not in token  # encrypted, not only signed
    opened = sealer().open(token, T0 + timedelta(minutes=5))
    assert opened == session
    assert opened is not None and opened.api_key == "tl_secret-key-of-alice"
    assert "tl_secret" not in repr(opened)  # never in a log line by accident


def test_every_session_gets_its_own_csrf_token() -> None:
    one, two = new_session("k", ALICE, T0), new_session("k", ALICE, T0)
    assert one.csrf_token != two.csrf_token and len(one.csrf_token) >= 40


@pytest.mark.parametrize("position", [0, 10, 40, -5, -1])
def test_an_altered_cookie_does_not_open(position: int) -> None:
    token = sealer().seal(new_session("k", ALICE, T0), T0)
    flipped = "A" if token[position] != "A" else "B"
    altered = token[:position] + flipped + (token[position + 1 :] if position != -1 else "")
    assert sealer().open(altered, T0) is None


@pytest.mark.parametrize("token", [None, "", "garbage", "gAAAAA" + "x" * 80])
def test_absent_or_foreign_cookies_do_not_open(token: str | None) -> None:
    assert sealer().open(token, T0) is None


def test_a_session_expires_after_its_lifetime() -> None:
    token = sealer(hours=12).seal(new_session("k", ALICE, T0), T0)
    assert sealer(hours=12).open(token, T0 + timedelta(hours=12) - timedelta(seconds=1)) is not None
    assert sealer(hours=12).open(token, T0 + timedelta(hours=12, seconds=1)) is None
    assert sealer(hours=1).open(token, T0 + timedelta(hours=2)) is None  # a shorter setting applies at once


def test_a_cookie_sealed_with_another_secret_does_not_open() -> None:
    token = Sealer([Fernet.generate_key().decode()], timedelta(hours=1)).seal(new_session("k", ALICE, T0), T0)
    assert sealer().open(token, T0) is None


def test_rotation_opens_cookies_of_the_old_key_and_seals_with_the_new() -> None:
    old_cookie = sealer(OLD_KEY).seal(new_session("k", ALICE, T0), T0)
    rotated = sealer(KEY, OLD_KEY)
    assert rotated.open(old_cookie, T0) is not None
    new_cookie = rotated.seal(new_session("k", ALICE, T0), T0)
    assert sealer(KEY).open(new_cookie, T0) is not None
    assert sealer(OLD_KEY).open(new_cookie, T0) is None


def test_a_signin_token_is_not_a_session_and_a_session_is_not_a_signin_token() -> None:
    s = sealer()
    signin = s.seal_signin(SigninToken(signin_csrf="abc"), T0)
    session = s.seal(new_session("k", ALICE, T0), T0)
    assert s.open(signin, T0) is None
    assert s.open_signin(session, T0) is None
    assert s.open_signin(signin, T0) == SigninToken(signin_csrf="abc")
    assert s.open_signin(signin, T0 + timedelta(hours=2)) is None  # the sign-in form's token lives an hour


@pytest.mark.parametrize(
    ("expected", "given", "same"),
    [("abc", "abc", True), ("abc", "abd", False), ("abc", "", False), ("abc", None, False)],
)
def test_csrf_tokens_compare(expected: str, given: str | None, same: bool) -> None:
    assert same_token(expected, given) is same


@pytest.mark.parametrize(
    ("scheme", "host", "secure"),
    [
        ("http", "127.0.0.1", False),
        ("http", "localhost", False),
        ("http", "::1", False),
        ("https", "127.0.0.1", True),
        ("http", "console.example.com", True),
        ("https", "console.example.com", True),
        ("http", None, True),
    ],
)
def test_cookies_are_secure_unless_plain_http_on_loopback(
    scheme: str, host: str | None, secure: bool
) -> None:
    assert cookie_is_secure(scheme, host) is secure


def test_settings_need_a_secret_to_seal_with() -> None:
    with pytest.raises(MissingSecret, match="TIERLINE_CONSOLE_SECRET"):
        Settings(console_secret=None).sealing_keys()
    assert Settings(console_secret=SecretStr(f" {KEY} , {OLD_KEY} ")).sealing_keys() == [KEY, OLD_KEY]


def test_settings_refuse_a_secret_that_is_not_a_fernet_key() -> None:
    with pytest.raises(ValidationError, match="key 2 is not a Fernet key"):
        Settings(console_secret=SecretStr(f"{KEY},not-a-key"))


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERLINE_CONSOLE_SECRET", KEY)
    monkeypatch.setenv("TIERLINE_CONSOLE_SESSION_HOURS", "2")
    monkeypatch.setenv("TIERLINE_ROUTER_URL", "http://router.internal:8002")
    settings = Settings()
    assert settings.session_lifetime() == timedelta(hours=2)
    assert settings.upstream_urls()["router"] == "http://router.internal:8002"
    assert settings.upstream_urls()["intake"] == "http://127.0.0.1:8001"
    assert settings.port == 8000
