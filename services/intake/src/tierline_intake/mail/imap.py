"""Intake's IMAP fetcher (aioimaplib), the alternative to the SMTP receiver for a mailbox that lives
on an existing server.

Every message of TIERLINE_IMAP_FOLDER is fetched (``BODY.PEEK[]``: its flags stay as they are),
taken in (:func:`~tierline_intake.mail.ingest.ingest_message`, one committed transaction) and only
then moved to TIERLINE_IMAP_PROCESSED_FOLDER (UID MOVE, or UID COPY + \\Deleted + EXPUNGE where the
server has no MOVE). A crash between the commit and the move leaves the message in the folder: read
again, its Message-ID row makes it a duplicate (ignored, no second incident) and it is moved then.
Rejected, ignored and held mails are moved too (they are recorded); a mail whose ingest fails (the
database in trouble) stays where it is and is tried again on the next round.

TLS (TIERLINE_IMAP_TLS): ``imaps`` from the first byte, ``starttls`` before LOGIN (refused, LOGIN
never sent, when the server offers no STARTTLS), ``none`` only for a server on the same host. The
server's certificate is checked against the system's CAs and TIERLINE_IMAP_CA_FILE's; one not trusted
is logged (``imap_tls_untrusted``) and tried again with the same backoff as an unreachable server.
The capabilities are asked again after STARTTLS and after LOGIN (RFC 3501: they may change).

New mail is awaited with IDLE when the server offers it (re-issued every IDLE_RENEW_SECONDS, under
RFC 2177's 29 minutes), by a search every TIERLINE_IMAP_POLL_SECONDS otherwise. A lost connection
is re-established with exponential backoff (tenacity), reset once a session is up again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from email.parser import BytesHeaderParser
from email.utils import getaddresses

from aioimaplib import aioimaplib
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from tierline_intake.config import Settings
from tierline_intake.mail.ingest import Outcome, ingest_message
from tierline_intake.mail.smtp import RECEIVED
from tierline_shared.config_files import ConfigError
from tierline_shared.logging import get_logger
from tierline_shared.runtime import Runtime

_log = get_logger(__name__)

IDLE_RENEW_SECONDS = 300.0  # RFC 2177: re-issue IDLE at least every 29 minutes; 5 is what clients do
TIMEOUT_SECONDS = 30.0  # one command's answer
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To")  # the address the server delivered to
CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, aioimaplib.AioImapException)


class ImapError(Exception):
    """The server refused something the fetcher needs (LOGIN, SELECT, the move): a new session is tried."""


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


def recipients(raw: bytes) -> list[str]:
    """The addresses the mail was delivered to, as far as the server's headers tell (no envelope here)."""
    headers = BytesHeaderParser().parsebytes(raw)
    found = getaddresses([str(v) for name in ENVELOPE_HEADERS for v in headers.get_all(name, [])])
    return [address for _, address in found if address]


class Fetcher:
    """One mailbox's fetcher: ``run`` until cancelled; ``round`` takes in what the folder holds now."""

    def __init__(self, rt: Runtime, settings: Settings) -> None:
        self.rt = rt
        self.settings = settings
        self.host = settings.imap_host
        self.port = settings.imap_port or (993 if settings.imap_tls == "imaps" else 143)
        self.context = tls_context(settings)
        self.imap: aioimaplib.IMAP4 | None = None

    async def run(self) -> None:
        """Sessions for ever: connect (with backoff while the server is unreachable), take mail in, wait."""
        while True:
            retrying = AsyncRetrying(
                retry=retry_if_exception_type((*CONNECTION_ERRORS, ImapError)),
                wait=wait_exponential_jitter(initial=1, max=60),
                before_sleep=self._backing_off,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    await self.connect()
            try:
                await self.session()
            except (*CONNECTION_ERRORS, ImapError) as exc:
                _log.warning("imap_connection_lost", host=self.host, error=str(exc) or type(exc).__name__)
            finally:
                await self.disconnect()

    def _backing_off(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        fields = {
            "host": self.host,
            "port": self.port,
            "tls": self.settings.imap_tls,
            "attempt": state.attempt_number,
            "retry_in_seconds": round(wait, 1),
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
            _, deferred = await self.round()
            # aioimaplib drops an EXISTS the server slips into an answer to SEARCH, and IDLE would not
            # repeat it: a new SELECT (in sync, nothing between it and IDLE) counts what is there now.
            selected = _ok(await self.imap.select(_quoted(self.settings.imap_folder)), "SELECT")
            if (aioimaplib.extract_exists(selected) or 0) > deferred:
                continue
            await self.wait_for_mail(self.imap, retry_soon=deferred > 0)

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
        """Take in every message the folder holds now: (how many there were, how many were left to retry)."""
        assert self.imap is not None
        imap = self.imap
        found = _ok(await imap.uid_search("ALL", charset=None), "UID SEARCH")
        uids = [int(t) for line in found.lines[:-1] for t in bytes(line).split() if t.isdigit()]
        if uids:
            _log.info("imap_round", folder=self.settings.imap_folder, messages=len(uids))
        deferred = 0
        for done, uid in enumerate(uids, start=1):
            if not await self.process(imap, uid):
                deferred += 1
            if done % 50 == 0:
                _log.info("imap_progress", done=done, total=len(uids))
        return len(uids), deferred

    async def process(self, imap: aioimaplib.IMAP4, uid: int) -> bool:
        """One message: fetched, taken in, committed, then moved. False: left in the folder to retry."""
        fetched = _ok(await imap.uid("fetch", str(uid), "(BODY.PEEK[])"), f"UID FETCH {uid}")
        raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
        if raw is None:
            return True  # expunged meanwhile by someone else: nothing to take
        try:
            outcome = await ingest_message(self.rt, raw, recipients(raw))
        except Exception:  # noqa: BLE001 - the database or a bug: nothing committed, the mail stays to retry
            _log.exception("imap_mail_deferred", uid=uid, bytes=len(raw))
            RECEIVED.labels(outcome="deferred").inc()
            return False
        RECEIVED.labels(outcome=outcome.outcome).inc()
        await self.committed(uid, outcome)
        await self.move(imap, uid)
        _log.info(
            "imap_mail_processed", uid=uid, outcome=outcome.outcome, to=self.settings.imap_processed_folder
        )
        return True

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
