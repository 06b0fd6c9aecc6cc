"""The IMAP fetcher's transport rules against a real Dovecot, PostgreSQL and Kafka: a refused MOVE
skips one message (not the mail behind it, not the session), a refused command after LOGIN backs off,
oversize mail is recorded without being fetched, held mail stays in the folder until it gets through,
a SIGKILL between commit and move doubles nothing, and the settings that guard all this."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aioimaplib import aioimaplib  # type: ignore[import-untyped]
from prometheus_client import REGISTRY
from pydantic import ValidationError

from tests.support.dovecot import dovecot  # noqa: F401 - the fixture
from tierline_intake.config import Settings
from tierline_intake.mail import imap
from tierline_intake.mail.ingest import Outcome
from tierline_launcher.procs import free_port

from .conftest import ADMIN_KEY, CONFIG_DIR
from .test_mail_imap import SUPPORT, Intake, intake, mail, received  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[4]
RUNNER = REPO / "tests" / "support" / "intake_imap_runner.py"


def sessions() -> float:
    return REGISTRY.get_sample_value("tierline_imap_sessions_total") or 0.0


def skipped(step: str) -> float:
    return REGISTRY.get_sample_value("tierline_imap_skipped_total", {"step": step}) or 0.0


def test_a_refused_move_skips_that_message_only_and_keeps_the_session(
    intake: Intake,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_move = imap.Fetcher.move

    async def refused_for_the_first(self: imap.Fetcher, client: aioimaplib.IMAP4, uid: int) -> None:
        if uid == 1:  # the server's own NO: a folder that is not there (as a full or forbidden one)
            imap._ok(await client.uid("move", str(uid), '"No such folder"'), f"UID MOVE {uid}")
        await real_move(self, client, uid)

    monkeypatch.setattr(imap.Fetcher, "move", refused_for_the_first)
    logins, refusals = sessions(), skipped("move")
    intake.append(mail("Stuck"))
    intake.append(mail("Behind it"))
    intake.start(imap_poll_seconds=0.3)  # the stuck one is tried again every 0.3 s

    async def moved_past() -> bool:
        return await intake.in_folders() == ([1], [1]) and skipped("move") >= refusals + 4

    intake.wait(moved_past, "the second mail moved, the first refused over four rounds")
    assert sessions() == logins + 1, "one login for all those rounds"
    assert sorted(i["title"] for i in intake.incidents()) == ["Behind it", "Stuck"]  # committed once each
    assert intake.value("SELECT count(*) FROM mail_messages") == 2


def test_a_command_refused_after_login_is_retried_with_a_growing_backoff(
    intake: Intake,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refused_search(self: imap.Fetcher) -> tuple[int, int]:
        assert self.imap is not None  # a search Dovecot answers BAD, as a server refusing SEARCH would
        imap._ok(await self.imap.uid_search("NO-SUCH-KEY", charset=None), "UID SEARCH")
        return 0, 0

    monkeypatch.setattr(imap.Fetcher, "round", refused_search)
    first = sessions()
    intake.start()
    seen: list[float] = []

    def logged_in_again() -> bool:
        if sessions() - first > len(seen):
            seen.append(time.monotonic())
        return len(seen) >= 3

    intake.wait(logged_in_again, "three sessions")
    # waits of 1-2 s then 2-3 s (tenacity's exponential curve with jitter): no tight loop
    assert seen[2] - seen[0] >= 2.9, seen


def test_an_oversize_mail_is_recorded_rejected_and_moved_without_being_fetched(
    intake: Intake,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetched: list[int] = []
    real = imap.ingest_message

    async def spy(rt: Any, raw: bytes, *args: Any, **kwargs: Any) -> Outcome:
        fetched.append(len(raw))
        return await real(rt, raw, *args, **kwargs)

    monkeypatch.setattr(imap, "ingest_message", spy)
    intake.append(mail("Huge", "x" * 20_000, Message_ID="<huge@example.com>"))
    intake.append(mail("Small"))
    intake.start(mail_max_bytes=8000)
    intake.processed(2)
    assert [i["title"] for i in intake.incidents()] == ["Small"]
    assert fetched and all(size < 8000 for size in fetched), fetched
    row = intake.value(
        "SELECT outcome || ' ' || reason || ' ' || sender FROM mail_messages "
        "WHERE message_id = '<huge@example.com>'"
    )
    assert row.startswith("rejected over the size limit (") and row.endswith(" alice@example.com"), row


def test_a_held_mail_stays_in_the_folder_until_its_sender_is_under_the_rate(
    intake: Intake,  # noqa: F811
) -> None:
    held = received("held")
    intake.append(mail("First"))
    intake.append(mail("Second"))
    intake.start(mail_rate="1/6s", imap_poll_seconds=0.3)
    intake.wait(lambda: received("held") > held, "the second mail held")
    inbox, processed = intake.folders()
    assert (inbox, processed) == ([2], [1]), "held: left in the INBOX, not moved"
    intake.processed(2, timeout=30)  # a later round takes it once the first is 6 s old
    assert sorted(i["title"] for i in intake.incidents()) == ["First", "Second"]


# -- a real crash between the commit and the move ----------------------------------------


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_sigkill_between_commit_and_move_neither_loses_nor_doubles_the_incident(
    intake: Intake,  # noqa: F811
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    server = intake.server
    env = {
        **os.environ,
        "TIERLINE_DATABASE_URL": intake.url,
        "TIERLINE_KAFKA_BOOTSTRAP_SERVERS": intake.infra.bootstrap_servers,
        "TIERLINE_BOOTSTRAP_API_KEY": ADMIN_KEY,
        "TIERLINE_CONFIG_DIR": str(CONFIG_DIR),
        "TIERLINE_HOST": "127.0.0.1",
        "TIERLINE_PORT": str(free_port()),
        "TIERLINE_LOG_LEVEL": "WARNING",
        "TIERLINE_IMAP_HOST": server.host,
        "TIERLINE_IMAP_PORT": str(server.port),
        "TIERLINE_IMAP_USERNAME": server.user,
        "TIERLINE_IMAP_PASSWORD": server.password,
        "TIERLINE_IMAP_TLS": "none",
        "TIERLINE_IMAP_MAILBOX": SUPPORT,
        "TIERLINE_IMAP_POLL_SECONDS": "60",
    }

    def start(**extra: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"intake-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, str(RUNNER), "serve"], env={**env, **extra}, stdout=log, stderr=log, cwd=REPO
        )
        log.close()
        processes.append(process)
        return process

    intake.append(mail())
    # the runner holds the fetcher right after the commit, as a slow server would, so that the kill
    # lands between the commit and the move every time
    first = start(TIERLINE_TEST_HOLD_AFTER_COMMIT="1")
    deadline = time.monotonic() + 90  # the subprocess starts its service: Kafka, PostgreSQL, Dovecot
    while intake.value("SELECT count(*) FROM incidents") != 1:
        assert first.poll() is None, (tmp_path / "intake-0.log").read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "no incident committed by the subprocess in 90 s"
        time.sleep(0.05)  # the next look at the database (bounded by the deadline above)
    first.send_signal(signal.SIGKILL)  # no LOGOUT, no cleanup: the process is gone
    assert first.wait(timeout=30) == -signal.SIGKILL
    assert intake.folders() == ([1], []), "committed, not moved"

    start()  # the plain service, as a restart would run it
    intake.processed(1, timeout=90)
    assert intake.value("SELECT count(*) FROM incidents") == 1
    assert intake.value("SELECT count(*) FROM mail_messages") == 1
    assert intake.value("SELECT outcome FROM mail_messages") == "created"


# -- settings ----------------------------------------------------------------------------


def _imap(**fields: Any) -> Settings:
    base = {
        "imap_host": "127.0.0.1",
        "imap_username": "desk",
        "imap_password": "secret",
        "imap_mailbox": SUPPORT,
        "config_dir": CONFIG_DIR,
    }
    return Settings(**{**base, **fields})


def test_the_imap_mailbox_is_required_and_must_be_configured() -> None:
    with pytest.raises(ValidationError, match=r"imap_mailbox .*is required"):
        _imap(imap_mailbox="")
    with pytest.raises(ValidationError, match=r"'nobody@tierline\.localhost' is not one of the addresses"):
        _imap(imap_mailbox="nobody@tierline.localhost")
    assert _imap(imap_mailbox="VPN@tierline.localhost").imap_mailbox == "VPN@tierline.localhost"


def test_imap_without_tls_is_for_this_host_only_unless_allowed() -> None:
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"):
        assert _imap(imap_host=host, imap_tls="none").imap_host == host
    for host in ("imap.example.com", "10.0.0.5", "localhost.example.com"):
        with pytest.raises(ValidationError, match=r"in clear .*imap_allow_plain"):
            _imap(imap_host=host, imap_tls="none")
        assert _imap(imap_host=host, imap_tls="none", imap_allow_plain=True).imap_allow_plain
        assert _imap(imap_host=host, imap_tls="imaps").imap_tls == "imaps"
