"""Sessions sealed in a cookie with Fernet (AES-128-CBC + HMAC-SHA256): signed *and* encrypted.

The cookie carries the person's API key, what intake's ``GET /v1/access/me`` said of it, a CSRF
token, the issue time and when it was last used; the browser holds only ciphertext. A session ends
``lifetime`` after its issue time, or once unused for ``idle``: the pages re-seal the cookie with a
new ``last_seen`` at most once a minute (``TOUCH_EVERY``), so an idle one cannot be kept alive without
requests. Both times are inside the sealed payload, so nobody can move them; an old cookie replayed
after either end is refused even if its holder kept it. The sessions are stateless: signing out
clears the browser's cookie, but a copy of it stays valid until one of those ends.
Several keys (newest first) let the secret rotate: cookies sealed with an older one still open.

Sign-in has a CSRF token too, before any session exists: ``GET /signin`` sets a short-lived sealed
cookie (``tierline_signin``) holding a random token and puts the same token in the form; ``POST
/signin`` must bring both, equal. Being sealed, that cookie cannot be planted by anyone but us.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SESSION_COOKIE = "tierline_session"
SIGNIN_COOKIE = "tierline_signin"
SIGNIN_TTL = timedelta(hours=1)  # a sign-in form left open longer than this is shown again
TOUCH_EVERY = timedelta(minutes=1)  # the cookie's last_seen is renewed at most this often
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
M = TypeVar("M", bound=BaseModel)


class Identity(BaseModel):
    """Who intake says a key is (``GET /v1/access/me``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    name: str
    scopes: list[str] = Field(default_factory=list)
    person: str | None = None


class Session(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: str = Field(repr=False)  # never in a repr, so never in a log line by accident
    identity: Identity
    csrf_token: str
    issued_at: datetime
    last_seen: datetime | None = None  # the last request that renewed it (None: issued_at)

    @property
    def seen(self) -> datetime:
        return self.last_seen or self.issued_at

    @property
    def display_name(self) -> str:
        return self.identity.person or self.identity.name

    def can(self, scope: str) -> bool:
        """Whether the key holds ``scope`` (admin holds every one), to hide actions it would be refused."""
        return scope in self.identity.scopes or "admin" in self.identity.scopes


class SigninToken(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    signin_csrf: str


class Sealer:
    """Seals with the newest key; opens with any. Times come from the caller (the service's clock)."""

    def __init__(self, keys: Sequence[str], lifetime: timedelta, idle: timedelta | None = None) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self.lifetime = lifetime
        self.idle = idle  # None: no idle end (only the lifetime)

    def seal(self, session: Session, now: datetime) -> str:
        return self._seal(session, now)

    def open(self, token: str | None, now: datetime) -> Session | None:
        """The session in a cookie, or None when it is absent, not ours, altered, expired or idle."""
        return self.examine(token, now)[0]

    def examine(self, token: str | None, now: datetime) -> tuple[Session | None, str | None]:
        """The session in a cookie, or why there is none: None (no cookie), "expired" (ended, not ours,
        altered) or "idle" (unused longer than ``idle``)."""
        if not token:
            return None, None
        # Fernet's timestamp is the last (re-)seal; the issue time inside bounds the whole life.
        session = self._open(Session, token, now, self.lifetime)
        if session is None or now - session.issued_at > self.lifetime:
            return None, "expired"
        if self.idle is not None and now - session.seen > self.idle:
            return None, "idle"
        return session, None

    def needs_touch(self, session: Session, now: datetime) -> bool:
        """Whether to re-seal the cookie with a new ``last_seen`` (at most once a ``TOUCH_EVERY``)."""
        return self.idle is not None and now - session.seen >= TOUCH_EVERY

    def touched(self, session: Session, now: datetime) -> tuple[str, int]:
        """The cookie re-sealed as last used ``now``, and its max-age (what is left of its lifetime)."""
        left = session.issued_at + self.lifetime - now
        sealed = self.seal(session.model_copy(update={"last_seen": now}), now)
        return sealed, max(int(left.total_seconds()), 0)

    def seal_signin(self, token: SigninToken, now: datetime) -> str:
        return self._seal(token, now)

    def open_signin(self, token: str | None, now: datetime) -> SigninToken | None:
        return self._open(SigninToken, token, now, SIGNIN_TTL)

    def _seal(self, model: BaseModel, now: datetime) -> str:
        return self._fernet.encrypt_at_time(model.model_dump_json().encode(), int(now.timestamp())).decode()

    def _open(self, kind: type[M], token: str | None, now: datetime, ttl: timedelta) -> M | None:
        if not token:
            return None
        try:
            raw = self._fernet.decrypt_at_time(token.encode(), int(ttl.total_seconds()), int(now.timestamp()))
            return kind.model_validate_json(raw)
        except (InvalidToken, ValidationError, UnicodeError):
            return None


def new_session(api_key: str, identity: Identity, now: datetime) -> Session:
    return Session(api_key=api_key, identity=identity, csrf_token=new_token(), issued_at=now)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token (a missing one never matches)."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def cookie_is_secure(scheme: str, host: str | None) -> bool:
    """Secure, unless the browser came over plain HTTP to this machine (``make run`` on loopback)."""
    return not (scheme == "http" and (host or "").lower() in LOOPBACK_HOSTS)
