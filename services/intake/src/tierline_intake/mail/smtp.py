"""Intake's SMTP receiver (aiosmtpd, inside the service's event loop): mail for a configured
mailbox is taken in (:func:`~tierline_intake.mail.ingest.ingest_message`) and answered 250 only
once committed.

RCPT for an unknown mailbox → 550 5.1.1; DATA over TIERLINE_MAIL_MAX_BYTES → 552 (SIZE is
advertised); mail that is no message at all → 550 5.6.0 with the reason (recorded too); the
database in trouble → 451 4.3.0, so the sending server tries again later. Optional STARTTLS
(TIERLINE_MAIL_TLS_CERT/KEY) and AUTH (TIERLINE_MAIL_AUTH_USERS, salted scrypt hashes; then required).
With a certificate, AUTH is offered and taken only after STARTTLS (RFC 4954 section 4: no PLAIN or
LOGIN password over a channel in clear). A held mail (its sender over TIERLINE_MAIL_RATE) → 451 4.7.1:
the sending server keeps it and tries again later.

Resource limits: each command a bounded number of times per session (COMMAND_LIMITS; beyond it 421
and the session closed), TIERLINE_MAIL_MAX_CONNECTIONS sessions at once (one more: 421 4.3.2 and
closed), DATA_AT_ONCE mails read and taken in at once (others wait their turn), and scrypt checks on
a pool of AUTH_THREADS threads of their own, so AUTH floods never starve the service's default pool.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AnyStr, cast

from aiosmtpd.smtp import SMTP, AuthenticatorType, AuthResult, Envelope, LoginPassword, Session
from prometheus_client import Counter, Gauge

from tierline_intake.config import PasswordHash, Settings, hash_password, mail_auth_users, password_hash
from tierline_intake.mail.ingest import MailPolicy, Outcome, ingest_message
from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime

_log = get_logger(__name__)

RECEIVED = Counter(
    "tierline_mail_received_total",
    "Mails taken in (SMTP or IMAP), by outcome (created, noted, ignored, held, rejected, deferred)",
    ["outcome"],
)
SERVER_NAME = "tierline-intake"  # the name in the greeting (aiosmtpd would ask DNS for our FQDN)
COMMAND_LIMITS = {"AUTH": 3, "RCPT": 50, "NOOP": 10, "*": 30}  # per session (aiosmtpd: 421 and closed)
DATA_AT_ONCE = 4  # mails read and taken in at once: bounds the memory of aiosmtpd's DATA buffers
AUTH_THREADS = 2  # scrypt (~0.1 s, 32 MiB each) on threads of its own
TOO_MANY_CONNECTIONS = b"421 4.3.2 too many connections\r\n"


class MailHandler:
    """aiosmtpd's handler: mailboxes checked at RCPT, the mail taken in at DATA."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    @property
    def policy(self) -> MailPolicy:
        policy: MailPolicy = self.rt.state["mail"]
        return policy

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.policy.mailboxes.find(address) is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        # the envelope sender as given: "" for the null sender (MAIL FROM:<>) of bounces and auto-replies
        mail_from = (envelope.mail_from or "").strip().strip("<>").strip()
        try:
            outcome = await ingest_message(self.rt, raw, list(envelope.rcpt_tos), mail_from=mail_from)
        except Exception:  # noqa: BLE001 - the database or a bug: nothing committed, the sender retries
            _log.exception("mail_deferred", bytes=len(raw))
            RECEIVED.labels(outcome="deferred").inc()
            return "451 4.3.0 Temporary failure, try again later"
        RECEIVED.labels(outcome=outcome.outcome).inc()
        return reply(outcome)


def reply(outcome: Outcome) -> str:
    """The SMTP answer to a mail taken in (one line, ASCII)."""
    reason = _line(outcome.reason or "")
    if outcome.outcome == "rejected":
        return f"550 5.6.0 Rejected: {reason}"
    if outcome.outcome == "created":
        return f"250 2.0.0 created {outcome.reference}"
    if outcome.outcome == "noted":
        return f"250 2.0.0 noted on {outcome.reference}"
    if outcome.outcome == "held":  # not kept: the sending server holds it and tries again later
        return f"451 4.7.1 {reason or 'held'}, try again later"
    return f"250 2.0.0 {outcome.outcome}: {reason}"


def _line(text: str) -> str:
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())[:200]


class Authenticator:
    """AUTH PLAIN/LOGIN against TIERLINE_MAIL_AUTH_USERS (salted scrypt, compared in constant time).

    scrypt is slow on purpose (~0.1 s): it runs on ``executor``'s threads, the event loop never waits
    on it. An unknown user is checked against a throwaway hash of the cost of the first configured
    user's, so timing tells no names.
    """

    def __init__(self, users: dict[str, PasswordHash], executor: ThreadPoolExecutor) -> None:
        self.users = users
        self.executor = executor
        cost = next(iter(users.values()))
        self.nobody = password_hash(hash_password("\0unknown user\0", n=cost.n, r=cost.r, p=cost.p))

    async def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        expected = self.users.get(user, self.nobody)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self.executor, expected.verify, data.password) and user in self.users
        if not ok:
            _log.warning("mail_auth_refused", mechanism=mechanism)
        return AuthResult(success=ok, handled=False)


REFUSED = Counter(
    "tierline_mail_connections_refused_total", "SMTP connections refused at once (over the cap)"
)
OPEN = Gauge("tierline_mail_connections_open", "SMTP sessions open now, by listening address", ["listen"])


@dataclass
class Limits:
    """What the sessions of one listener share: the count of open ones, the DATA turns."""

    connections: int
    listen: str = ""
    open: int = 0
    data: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(DATA_AT_ONCE))

    def opened(self) -> None:
        self.open += 1
        OPEN.labels(listen=self.listen).set(self.open)

    def closed(self) -> None:
        self.open -= 1
        OPEN.labels(listen=self.listen).set(self.open)


class Receiver(SMTP):
    """aiosmtpd's SMTP, its PLAIN and LOGIN awaiting the (asynchronous) authenticator's answer, its
    sessions counted against :class:`Limits` and its 552s counted (``too_big``)."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.counted = False  # this session holds one of the open connections
        self.refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None and not self.counted:  # a new session (not STARTTLS's new transport)
            if self.limits.open >= self.limits.connections:
                self.refused = True
                REFUSED.inc()
                _log.warning("mail_too_many_connections", limit=self.limits.connections)
                cast("asyncio.WriteTransport", transport).write(TOO_MANY_CONNECTIONS)
                transport.close()
                return
            self.limits.opened()
            self.counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return  # aiosmtpd never saw this one
        if self.counted:
            self.counted = False
            self.limits.closed()
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if not self.refused:
            super().eof_received()  # aiosmtpd stops reading the session
        return False  # and the connection closes: a half-closed one would hold its place until the timeout

    async def push(self, status: AnyStr) -> None:
        if (status if isinstance(status, str) else status.decode("ascii", "replace")).startswith("552"):
            RECEIVED.labels(outcome="too_big").inc()  # aiosmtpd's own: SIZE= too big, or too much DATA
        await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        async with self.limits.data:  # read and taken in while holding a turn
            await super().smtp_DATA(arg)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await _settled(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await _settled(await super().auth_LOGIN(_, args))


async def _settled(result: Any) -> AuthResult:
    """aiosmtpd hands back what the authenticator returned: here a coroutine, when it got that far."""
    settled: AuthResult = await result if inspect.isawaitable(result) else result
    return settled


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if not (settings.mail_tls_cert and settings.mail_tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.mail_tls_cert, settings.mail_tls_key)
    return context


def server_factory(rt: Runtime, settings: Settings, auth_pool: ThreadPoolExecutor) -> Any:
    """A factory of aiosmtpd SMTP protocols, one per connection, sharing one handler and the limits."""
    handler = MailHandler(rt)
    limits = Limits(settings.mail_max_connections, settings.mail_listen)
    context = tls_context(settings)
    users = mail_auth_users(settings.mail_auth_users.get_secret_value()) if settings.mail_auth_users else None
    if users and context is None:
        _log.warning("mail_auth_without_tls", detail="AUTH passwords cross the connection in clear")

    authenticator = Authenticator(users, auth_pool) if users else None

    def make() -> SMTP:
        return Receiver(
            handler,
            hostname=SERVER_NAME,
            data_size_limit=settings.mail_max_bytes,
            tls_context=context,
            # asynchronous, which aiosmtpd's type does not say: Receiver awaits what it returns
            authenticator=cast("AuthenticatorType | None", authenticator),
            auth_required=bool(users),
            auth_require_tls=context is not None,  # with TLS: AUTH neither offered nor taken before it
            command_call_limit=COMMAND_LIMITS,
            limits=limits,
        )

    return make


async def serve(rt: Runtime) -> None:
    """Listen on TIERLINE_MAIL_LISTEN until cancelled (an intake worker)."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    host, _, port = settings.mail_listen.rpartition(":")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's line per command, addresses too
    loop = asyncio.get_running_loop()
    auth_pool = ThreadPoolExecutor(AUTH_THREADS, thread_name_prefix="mail-auth")
    try:
        factory = server_factory(rt, settings, auth_pool)
        server = await loop.create_server(factory, host=host.strip("[]"), port=int(port))
        _log.info(
            "mail_listening",
            address=settings.mail_listen,
            starttls=bool(settings.mail_tls_cert),
            max_connections=settings.mail_max_connections,
        )
        async with server:
            await server.serve_forever()
    finally:
        auth_pool.shutdown(wait=False, cancel_futures=True)
        _log.info("mail_stopped", address=settings.mail_listen)
