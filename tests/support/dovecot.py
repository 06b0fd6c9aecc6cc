"""A real Dovecot IMAP server for tests: Debian's ``dovecot-imapd`` (installed by `make system-packages`)
started on 127.0.0.1 and a free port, with a throwaway configuration, passwd-file users and maildirs.

Use the ``dovecot`` fixture (import it into a test module or a conftest)::

    async def test_fetch(dovecot: Dovecot) -> None:
        await dovecot.append(raw)            # a mail into the user's INBOX
        assert await dovecot.uids("Processed") == [1]

Run as an ordinary user, every Dovecot process is that user (no chroot, no privilege change). Run
as root, Dovecot drops to its own accounts as it does when installed, and the mail belongs to
``nobody`` (Dovecot refuses mail access as root), so the maildirs live in a directory of their own
under the system's temporary folder rather than in pytest's root-only ``tmp_path``. The server's
sockets live there too: a unix socket's path must stay under 108 bytes.

``start(pki=…)`` serves TLS with that certificate (``ssl = required``: STARTTLS on the plain port,
implicit TLS on :attr:`Dovecot.imaps_port`; no LOGIN in clear), ``start(capability=…)`` advertises a
reduced capability list (``imap_capability``), e.g. without IDLE and MOVE. The ``start_dovecot``
fixture starts such servers and removes them after the test.

Without ``/usr/sbin/dovecot`` the test is skipped, saying how to install it; a Dovecot that does
not start (no dovecot-imapd, a sandbox without the rights it needs) skips it with its own error
and log, so the reason is in the test report.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aioimaplib import aioimaplib  # type: ignore[import-untyped]  # no py.typed

from tests.support.binaries import find
from tests.support.tls import Pki
from tierline_launcher.procs import accepts_connections, free_port

USER, PASSWORD = "desk", "desk-imap-password"
START_SECONDS = 15.0
INSTALL = "make system-packages (Debian: apt-get install dovecot-imapd)"


def _ssl(pki: Pki | None) -> str:
    """Dovecot's TLS settings: none, or the test certificate with TLS required before any LOGIN."""
    if pki is None:
        return "ssl = no\ndisable_plaintext_auth = no"
    return f"""
ssl = required
ssl_cert = <{pki.cert_file}
ssl_key = <{pki.key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
"""


def _config(
    root: Path, port: int, *, imaps_port: int = 0, pki: Pki | None = None, capability: str = ""
) -> str:
    """dovecot.conf: IMAP on 127.0.0.1:port (and imaps_port with TLS) only, passwd-file users; plaintext
    LOGIN allowed without ``pki`` (loopback), refused before TLS with it."""
    if os.geteuid() == 0:
        account = pwd.getpwnam("nobody")
        processes = ""  # as installed: Dovecot's own users for its internal and login processes
    else:
        account = pwd.getpwuid(os.geteuid())
        processes = f"""
default_internal_user = {account.pw_name}
default_internal_group = {account.pw_name}
default_login_user = {account.pw_name}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
    uid, gid = account.pw_uid, account.pw_gid
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{_ssl(pki)}
{f"imap_capability = {capability}" if capability else ""}
auth_mechanisms = plain login
first_valid_uid = {min(uid, 500)}
first_valid_gid = {min(gid, 500)}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
  default_fields = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
{processes}
"""


@dataclass
class Dovecot:
    """A running Dovecot: where it listens, its user, and a few client operations for tests."""

    root: Path
    port: int
    user: str = USER
    password: str = PASSWORD
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    imaps_port: int = 0  # with TLS only
    pki: Pki | None = None

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"

    async def client(self) -> aioimaplib.IMAP4:
        """A logged-in client (over implicit TLS, trusting the test CA, when the server has TLS)."""
        if self.pki is not None:
            imap: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                host=self.host, port=self.imaps_port, timeout=10, ssl_context=self.pki.client_context()
            )
        else:
            imap = aioimaplib.IMAP4(host=self.host, port=self.port, timeout=10)
        await imap.wait_hello_from_server()
        response = await imap.login(self.user, self.password)
        assert response.result == "OK", response
        return imap

    async def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """APPEND a mail to ``folder`` (as a delivery would)."""
        imap = await self.client()
        try:
            response = await imap.append(raw, mailbox=folder)
            assert response.result == "OK", response
        finally:
            await imap.logout()

    async def uids(self, folder: str) -> list[int]:
        """The UIDs of the messages in ``folder``; [] when it does not exist."""
        imap = await self.client()
        try:
            selected = await imap.select(folder)
            if selected.result != "OK":
                return []
            response = await imap.uid_search("ALL", charset=None)
            assert response.result == "OK", response
            return [int(uid) for line in response.lines[:-1] for uid in line.split() if uid.isdigit()]
        finally:
            await imap.logout()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the master stops its children on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start(pki: Pki | None = None, capability: str = "") -> Dovecot:
    """Start a Dovecot (foreground master, our process's child) and wait until it takes connections:
    with ``pki``, TLS required (STARTTLS and imaps); with ``capability``, that CAPABILITY list."""
    binary = find("dovecot")
    if binary is None:
        pytest.skip(f"Dovecot is not installed (/usr/sbin/dovecot); install it with `{INSTALL}`")
    root = Path(tempfile.mkdtemp(prefix="tl-dovecot-"))
    os.chmod(root, 0o755)  # Dovecot's unprivileged processes must reach their files
    port = free_port()
    imaps_port = free_port() if pki is not None else 0
    dovecot = Dovecot(root, port, imaps_port=imaps_port, pki=pki)
    (root / "home").mkdir()
    dovecot.config.write_text(_config(root, port, imaps_port=imaps_port, pki=pki, capability=capability))
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root / "home", nobody.pw_uid, nobody.pw_gid)
    with (root / "master.err").open("wb") as stderr:  # the child keeps its own copy of the descriptor
        dovecot.process = subprocess.Popen(
            [binary, "-F", "-c", str(dovecot.config)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    deadline = time.monotonic() + START_SECONDS
    while not all(accepts_connections(p) for p in (port, imaps_port) if p):
        if dovecot.process.poll() is not None or time.monotonic() > deadline:
            err = (root / "master.err").read_text(errors="replace")[-2000:]
            log = dovecot.log()
            dovecot.stop()
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip(f"Dovecot ({binary}, as {getpass.getuser()}) did not start: {err.strip()} {log}")
        time.sleep(0.05)  # a bounded wait for the port (the deadline above), not a hope
    return dovecot


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh Dovecot for one test, stopped and removed after it."""
    server = start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def start_dovecot() -> Iterator[Callable[..., Dovecot]]:
    """Start Dovecots of a test's own kind (``start``'s arguments), stopped and removed after it."""
    servers: list[Dovecot] = []

    def make(pki: Pki | None = None, capability: str = "") -> Dovecot:
        server = start(pki, capability)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
