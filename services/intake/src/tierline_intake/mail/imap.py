"""Intake's IMAP fetcher (aioimaplib), the alternative to the SMTP receiver for a mailbox that lives
on an existing server.

Every message of TIERLINE_IMAP_FOLDER is sized first (``RFC822.SIZE``), fetched (``BODY.PEEK[]``: its
flags stay as they are), taken in (:func:`~tierline_intake.mail.ingest.ingest_message`, one committed
transaction) and only then moved to TIERLINE_IMAP_PROCESSED_FOLDER (UID MOVE, or UID COPY + \\Deleted +
EXPUNGE where the server has no MOVE). A crash between the commit and the move leaves the message in
the folder: read again, its Message-ID row makes it a duplicate (ignored, no second incident) and it
is moved then. Rejected and ignored mails are moved too (they are recorded); a held mail (its sender
over TIERLINE_MAIL_RATE) and one whose ingest fails (the database in trouble) stay where they are and
are tried again on a later round. A mail over TIERLINE_MAIL_MAX_BYTES is never fetched whole: it is
recorded rejected (from a few of its header fields) and moved.

Every mail fetched is for TIERLINE_IMAP_MAILBOX (a mailboxes.yaml address), whatever its To or
Delivered-To say: BCC'd and alias mail arrives, and no header a sender writes chooses the mailbox.

TLS (TIERLINE_IMAP_TLS): ``imaps`` from the first byte, ``starttls`` before LOGIN (refused, LOGIN
never sent, when the server offers no STARTTLS), ``none`` only for a server on this host (or with
TIERLINE_IMAP_ALLOW_PLAIN). The server's certificate is checked against the system's CAs and
TIERLINE_IMAP_CA_FILE's; one not trusted is logged (``imap_tls_untrusted``) and tried again with the
backoff below. The capabilities are asked again after STARTTLS and after LOGIN (RFC 3501).

New mail is awaited with IDLE when the server offers it (re-issued every IDLE_RENEW_SECONDS, under
RFC 2177's 29 minutes), by a search every TIERLINE_IMAP_POLL_SECONDS otherwise. A session that fails
(the server unreachable, LOGIN, SELECT or SEARCH refused) is tried again after an exponential backoff
(tenacity's curve) that starts over only once a round went through, so a server that refuses
something after every login is not logged into in a tight loop. A message whose FETCH or MOVE is
refused is skipped for the round (``tierline_imap_skipped_total``, logged with its UID): the mail
behind it is still taken, and it is tried again on the next round.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import ssl
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from typing import Literal

from aioimaplib import aioimaplib
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryCallState, wait_exponential_jitter

from tierline_intake.config import Settings
from tierline_intake.mail.ingest import Outcome, ingest_message, record_rejected
from tierline_intake.mail.smtp import RECEIVED
from tierline_shared.config_files import ConfigError
from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime

_log = get_logger(__name__)

IDLE_RENEW_SECONDS = 300.0  # RFC 2177: re-issue IDLE at least every 29 minutes; 5 is what clients do
TIMEOUT_SECONDS = 30.0  # one command's answer
HEADER_BYTES = 8192  # what is read of an oversize mail: its Message-ID, From and Subject
CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, aioimaplib.AioImapException)
SIZE = re.compile(rb"RFC822\.SIZE (\d+)")

SESSIONS = Counter("tierline_imap_sessions_total", "IMAP sessions opened (a connection and a LOGIN tried)")
SKIPPED = Counter(
    "tierline_imap_skipped_total",
    "Messages left in the folder for a round because the server refused a command on them",
    ["step"],
)


class ImapError(Exception):
    """The server refused something the fetcher needs (LOGIN, SELECT, the move)."""


def _quoted(name: str) -> str:
    return name if name.isalnum() else f'"{name}"'  # the settings admit no quote or backslash in it


def _ok(response: aioimaplib.Response, what: str) -> aioimaplib.Response:
    if response.result != "OK":
        detail = b" ".join(bytes(line) for line in response.lines[-1:]).decode("ascii", "replace")
        raise ImapError(f"{what} refused: {response.result} {detail}"[:300])
    return response


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The client context (None for TLS ``none``): the system's CAs, and TIERLINE_IMAP_CA_FILE's."""
    if settings.imap_tls == "none":
        return None
    context = ssl.create_default_context()
    if settings.imap_ca_file:
        try:
            context.load_verify_locations(cafile=settings.imap_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"TIERLINE_IMAP_CA_FILE {settings.imap_ca_file!r} is no readable PEM bundle: {exc}"
            ) from exc
    return context


class Backoff:
    """How long to wait before the next session: tenacity's exponential curve with jitter (1 s, 2 s,
    4 s … up to a minute), started over only by :meth:`succeeded` (a round that went through)."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0) -> None:
        self.failures = 0
        self._wait = wait_exponential_jitter(initial=initial, max=maximum)

    def failed(self) -> float:
        self.failures += 1
        state = RetryCallState(AsyncRetrying(), fn=None, args=(), kwargs={})
        state.attempt_number = self.failures
        return float(self._wait(state))

    def succeeded(self) -> None:
        self.failures = 0


def _text(value: object, limit: int) -> str:
    """A header's value as text PostgreSQL stores: encoded words decoded, no NUL, no lone surrogate."""
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError):
        text = str(value)
    text = " ".join(text.replace("\x00", "").split())[:limit]
    return text.encode("utf-8", "replace").decode("utf-8")


class Fetcher:
    """One mailbox's fetcher: ``run`` until cancelled; ``round`` takes in what the folder holds now."""

    def __init__(self, rt: Runtime, settings: Settings) -> None:
        self.rt = rt
        self.settings = settings
        self.host = settings.imap_host
        self.port = settings.imap_port or (993 if settings.imap_tls == "imaps" else 143)
        self.context = tls_context(settings)
        self.imap: aioimaplib.IMAP4 | None = None
        self.backoff = Backoff()

    async def run(self) -> None:
        """Sessions for ever: connect, take mail in, wait for more; after a failure, the backoff."""
        while True:
            delay = 0.0
            try:
                await self.connect()
                await self.session()
            except (*CONNECTION_ERRORS, ImapError) as exc:
                delay = self.backoff.failed()
                self._failed(exc, delay)
            finally:
                await self.disconnect()
            await asyncio.sleep(delay)

    def _failed(self, exc: BaseException, delay: float) -> None:
        fields = {
            "host": self.host,
            "port": self.port,
            "tls": self.settings.imap_tls,
            "attempt": self.backoff.failures,
            "retry_in_seconds": round(delay, 1),
            "error": str(exc) or type(exc).__name__,
        }
        if isinstance(exc, ssl.SSLCertVerificationError):
            hint = "the server's certificate is not trusted: is its CA in TIERLINE_IMAP_CA_FILE?"
            _log.error("imap_tls_untrusted", hint=hint, **fields)
        elif isinstance(exc, ImapError):
            _log.error("imap_refused", **fields)
        else:
            _log.warning("imap_unreachable", **fields)

    async def connect(self) -> aioimaplib.IMAP4:
        """A logged-in session with the folder selected and the processed folder there."""
        s = self.settings
        await self.disconnect()
        SESSIONS.inc()
        context = self.context
        if s.imap_tls == "imaps":
            imap = aioimaplib.IMAP4_SSL(self.host, self.port, timeout=TIMEOUT_SECONDS, ssl_context=context)
        else:
            imap = aioimaplib.IMAP4(self.host, self.port, timeout=TIMEOUT_SECONDS)
        self.imap = imap
        await imap.wait_hello_from_server()
        if context is not None and s.imap_tls == "starttls":
            await self._starttls(imap, context)
        password = s.imap_password.get_secret_value() if s.imap_password else ""
        _ok(await imap.login(s.imap_username, password), "LOGIN")
        # aioimaplib adds LOGIN's capabilities to those said before it: ask anew (IDLE, MOVE may differ)
        await asyncio.wait_for(imap.protocol.capability(), TIMEOUT_SECONDS)
        created = await imap.create(_quoted(s.imap_processed_folder))
        if created.result != "OK" and not any(b"ALREADYEXISTS" in bytes(line) for line in created.lines):
            _ok(created, f"CREATE {s.imap_processed_folder}")
        _ok(await imap.select(_quoted(s.imap_folder)), f"SELECT {s.imap_folder}")
        _log.info(
            "imap_connected",
            host=self.host,
            port=self.port,
            tls=s.imap_tls,
            folder=s.imap_folder,
            mailbox=s.imap_mailbox,
            idle=imap.has_capability("IDLE"),
            move=imap.has_capability("MOVE"),
        )
        return imap

    async def _starttls(self, imap: aioimaplib.IMAP4, context: ssl.SSLContext) -> None:
        """STARTTLS (RFC 3501 6.2.1; aioimaplib lacks it): the command, the handshake, new capabilities."""
        protocol = imap.protocol
        if not imap.has_capability("STARTTLS"):  # LOGIN is not sent in clear instead
            raise ImapError("the server offers no STARTTLS (TIERLINE_IMAP_TLS=starttls): no LOGIN in clear")
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        _ok(await asyncio.wait_for(protocol.execute(command), TIMEOUT_SECONDS), "STARTTLS")
        transport = await asyncio.get_running_loop().start_tls(
            protocol.transport, protocol, context, server_hostname=self.host
        )
        protocol.transport = transport
        await asyncio.wait_for(protocol.capability(), TIMEOUT_SECONDS)  # what was said in clear is void

    async def disconnect(self) -> None:
        imap, self.imap = self.imap, None
        if imap is None:
            return
        try:
            if imap.get_state() in (aioimaplib.AUTH, aioimaplib.SELECTED):
                await asyncio.wait_for(imap.logout(), 5)
        except (*CONNECTION_ERRORS, ImapError):
            pass  # the connection is gone already
        finally:
            transport = imap.protocol.transport
            if transport is not None:
                transport.close()

    async def session(self) -> None:
        """Rounds until the connection fails: take in what is there, then wait for news."""
        assert self.imap is not None
        while True:
            _, left = await self.round()
            self.backoff.succeeded()  # a round went through: the next failure waits the shortest again
            # aioimaplib drops an EXISTS the server slips into an answer to SEARCH, and IDLE would not
            # repeat it: a new SELECT (in sync, nothing between it and IDLE) counts what is there now.
            selected = _ok(await self.imap.select(_quoted(self.settings.imap_folder)), "SELECT")
            if (aioimaplib.extract_exists(selected) or 0) > left:
                continue
            await self.wait_for_mail(self.imap, retry_soon=left > 0)

    async def wait_for_mail(self, imap: aioimaplib.IMAP4, *, retry_soon: bool) -> None:
        """IDLE until the server reports new mail (or the renewal is due); a poll's pause without IDLE."""
        poll = self.settings.imap_poll_seconds
        if not imap.has_capability("IDLE"):
            await asyncio.sleep(poll)
            return
        timeout = min(IDLE_RENEW_SECONDS, poll) if retry_soon else IDLE_RENEW_SECONDS
        idle = await imap.idle_start(timeout=timeout)
        try:
            while True:
                pushed = await imap.wait_server_push(timeout=timeout + TIMEOUT_SECONDS)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break  # the renewal: IDLE again after a look at the folder
                if any(b"EXISTS" in bytes(line) for line in pushed):
                    break
        finally:
            if imap.has_pending_idle():
                imap.idle_done()
            await asyncio.wait_for(idle, TIMEOUT_SECONDS)

    async def round(self) -> tuple[int, int]:
        """Take in every message the folder holds now: (how many there were, how many were left in it)."""
        assert self.imap is not None
        imap = self.imap
        found = _ok(await imap.uid_search("ALL", charset=None), "UID SEARCH")
        uids = [int(t) for line in found.lines[:-1] for t in bytes(line).split() if t.isdigit()]
        if uids:
            _log.info("imap_round", folder=self.settings.imap_folder, messages=len(uids))
        left = 0
        for done, uid in enumerate(uids, start=1):
            if not await self.process(imap, uid):
                left += 1
            if done % 50 == 0:
                _log.info("imap_progress", done=done, total=len(uids))
        return len(uids), left

    async def process(self, imap: aioimaplib.IMAP4, uid: int) -> bool:
        """One message: sized, fetched, taken in, committed, then moved. False: left in the folder."""
        step = "fetch"
        try:
            outcome = await self.take(imap, uid)
            if outcome == "gone":
                return True
            if outcome == "deferred":
                return False
            RECEIVED.labels(outcome=outcome.outcome).inc()
            if outcome.outcome == "held":  # not recorded as final: tried again on a later round
                _log.info("imap_mail_held", uid=uid, reason=outcome.reason)
                return False
            await self.committed(uid, outcome)
            step = "move"
            await self.move(imap, uid)
        except ImapError as exc:
            SKIPPED.labels(step=step).inc()
            _log.warning("imap_mail_skipped", uid=uid, step=step, error=str(exc))
            return False
        _log.info(
            "imap_mail_processed", uid=uid, outcome=outcome.outcome, to=self.settings.imap_processed_folder
        )
        return True

    async def take(self, imap: aioimaplib.IMAP4, uid: int) -> Outcome | Literal["gone", "deferred"]:
        """The outcome of taking the message in: "gone" when someone else expunged it meanwhile,
        "deferred" when its ingest failed (nothing committed); ImapError when the server refused."""
        sized = _ok(await imap.uid("fetch", str(uid), "(RFC822.SIZE)"), f"UID FETCH {uid} RFC822.SIZE")
        size = next((int(m.group(1)) for line in sized.lines if (m := SIZE.search(bytes(line)))), None)
        if size is None:
            return "gone"
        if size > self.settings.mail_max_bytes:
            return await self.oversize(imap, uid, size)
        fetched = _ok(await imap.uid("fetch", str(uid), "(BODY.PEEK[])"), f"UID FETCH {uid}")
        raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
        if raw is None:
            return "gone"
        try:
            return await ingest_message(self.rt, raw, [self.settings.imap_mailbox])
        except Exception:  # noqa: BLE001 - the database or a bug: nothing committed, the mail stays
            _log.exception("imap_mail_deferred", uid=uid, bytes=len(raw))
            RECEIVED.labels(outcome="deferred").inc()
            return "deferred"

    async def oversize(self, imap: aioimaplib.IMAP4, uid: int, size: int) -> Outcome:
        """A mail over TIERLINE_MAIL_MAX_BYTES recorded rejected from its first header fields only."""
        fields = f"(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID FROM SUBJECT)]<0.{HEADER_BYTES}>)"
        fetched = _ok(await imap.uid("fetch", str(uid), fields), f"UID FETCH {uid} HEADER.FIELDS")
        head = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), b"")
        headers = BytesHeaderParser().parsebytes(head[:HEADER_BYTES])
        message_id = _text(headers.get("Message-ID", ""), 998)
        if not message_id:  # the same id for the same oversize mail read again
            message_id = "sha256:" + hashlib.sha256(head + str(size).encode()).hexdigest()
        sender = next((a for _, a in getaddresses([str(headers.get("From", ""))]) if a), "")
        reason = f"over the size limit ({size} bytes, at most {self.settings.mail_max_bytes})"
        outcome = await record_rejected(
            self.rt,
            message_id,
            sender=_text(sender, 320).lower(),
            recipients=[self.settings.imap_mailbox.lower()],
            subject=_text(headers.get("Subject", ""), 998),
            reason=reason,
        )
        _log.warning("imap_mail_oversize", uid=uid, bytes=size, limit=self.settings.mail_max_bytes)
        return outcome

    async def committed(self, uid: int, outcome: Outcome) -> None:
        """Called between the commit and the move (a seam for tests of a crash just there)."""

    async def move(self, imap: aioimaplib.IMAP4, uid: int) -> None:
        target = _quoted(self.settings.imap_processed_folder)
        if imap.has_capability("MOVE"):
            _ok(await imap.uid("move", str(uid), target), f"UID MOVE {uid}")
            return
        _ok(await imap.uid("copy", str(uid), target), f"UID COPY {uid}")
        _ok(await imap.uid("store", str(uid), "+FLAGS.SILENT", r"(\Deleted)"), f"UID STORE {uid}")
        if imap.has_capability("UIDPLUS"):
            _ok(await imap.uid("expunge", str(uid)), f"UID EXPUNGE {uid}")
        else:  # plain EXPUNGE also removes others' \Deleted messages: the folder is the fetcher's
            _ok(await imap.expunge(), "EXPUNGE")


async def serve(rt: Runtime) -> None:
    """Fetch from TIERLINE_IMAP_HOST until cancelled (an intake worker)."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    logging.getLogger("aioimaplib.aioimaplib").setLevel(logging.WARNING)  # its debug lines carry whole mails
    await Fetcher(rt, settings).run()
