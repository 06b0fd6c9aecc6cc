"""A migrated notifier database, a real SMTP server (aiosmtpd) that keeps what it receives, and a
harness that runs the notifier's use cases and the sender's rounds on a FixedClock, as the service does."""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tierline_launcher.procs import free_port
from tierline_notifier.adapters.channels import SmtpSettings
from tierline_notifier.adapters.orm import NotificationRow, outbox
from tierline_notifier.adapters.templates import Templates
from tierline_notifier.config import NotificationsConfig
from tierline_notifier.entrypoints import workers
from tierline_notifier.service_layer import directory, notify
from tierline_notifier.service_layer.unit_of_work import NotifierDeps
from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.events import Envelope, IncidentEvent
from tierline_shared.links import LinkSigner
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.testing import eventually

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
TEMPLATES = Path(__file__).resolve().parents[4] / "deploy" / "config" / "templates"
LINK_SECRET = "test-link-secret-for-the-notifier"
ADMIN_KEY = "tl_test-admin-key-for-notifier-api-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass
class Mailbox:
    """What a real SMTP server received: each message parsed, with its envelope recipients."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: str | None = None  # an SMTP reply to give DATA instead of accepting, e.g. "451 try later"
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.received if address in rcpt]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


DIRECTORY: dict[str, Any] = {
    "people": [
        {"name": "alice", "contacts": [{"name": "work", "type": "email", "address": "alice@example.com"}]},
        {
            "name": "dave",
            "contacts": [
                {"name": "work", "type": "email", "address": "dave@example.com"},
                {"name": "home", "type": "email", "address": "dave@home.example.com"},
            ],
            "rules": [{"notify": [{"contact": "work"}, {"contact": "home", "after": "5m"}]}],
        },
        {"name": "lena", "contacts": [{"name": "work", "type": "email", "address": "lena@example.com"}]},
        {"name": "nobody"},
    ],
    "teams": [
        {
            "name": "desk",
            "lead": "lena",
            "channels": [{"name": "list", "type": "email", "address": "desk@example.com"}],
        },
        {"name": "net", "lead": "lena"},
        {
            "name": "experts",
            "lead": "lena",
            "channels": [{"name": "list", "type": "email", "address": "l3@example.com"}],
        },
    ],
    "delivery": {"schedule": ["0s", "10s", "1m"]},
}


class Notifier:
    """The notifier's steps, one transaction each, on a FixedClock (real time at the start)."""

    def __init__(self, sessions: Any, smtp_port: int) -> None:
        self.sessions = sessions
        self.clock = FixedClock(datetime.now(UTC))
        self.config = NotificationsConfig.model_validate(DIRECTORY)
        self.deps = NotifierDeps(
            outbox=Outbox(outbox, "/tierline/notifier", self.clock),
            clock=self.clock,
            templates=Templates.load(TEMPLATES),
            schedule=self.config.delivery.schedule,
            allow_hosts=["127.0.0.1"],
            intake_url="http://127.0.0.1:8001",
            smtp=SmtpSettings(
                host="127.0.0.1", port=smtp_port, from_address="Tierline <desk@tierline.test>", timeout=5
            ),
            signer=LinkSigner([LINK_SECRET]),
        )
        self.rt = SimpleNamespace(
            state={"deps": self.deps},
            settings=SimpleNamespace(send_batch_size=50, send_poll_seconds=0.05, send_lease_seconds=120),
            unit_of_work=self._unit_of_work,
            sessions=sessions,
        )

    async def apply_directory(self) -> None:
        people, teams = self.config.directory()
        async with self.sessions() as session, session.begin():
            await directory.apply_config(self.deps.unit_of_work(session), people, teams, self.clock.now())

    @asynccontextmanager
    async def _unit_of_work(self) -> AsyncIterator[Any]:
        async with self.sessions() as session, session.begin():
            yield session

    async def feed(self, event: IncidentEvent, envelope_id: uuid.UUID | None = None) -> Envelope:
        """The consumer's handling of one event (a redelivery when ``envelope_id`` is an earlier one's)."""
        envelope = Envelope(data=event, source="/tierline/test", id=envelope_id or uuid.uuid4())
        async with self.sessions() as session, session.begin():
            await notify.on_event(self.deps.unit_of_work(session), self.deps, event, envelope)
        return envelope

    async def send_round(self) -> None:
        await workers.send_due(self.rt)  # type: ignore[arg-type]

    async def settle(self, rounds: int = 10) -> None:
        """Send until nothing is pending, jumping the clock to the next due message in between."""
        for _ in range(rounds):
            await self.send_round()
            pending = [r for r in await self.rows() if r.status == "pending"]
            if not pending:
                return
            due = min(r.next_attempt_at for r in pending)
            if due > self.clock.now():
                self.clock.advance(due - self.clock.now())
        raise AssertionError("messages still pending")

    async def rows(self, incident_id: uuid.UUID | None = None) -> list[NotificationRow]:
        async with self.sessions() as s:
            stmt = select(NotificationRow).order_by(NotificationRow.created_at, NotificationRow.recipient)
            if incident_id is not None:
                stmt = stmt.where(NotificationRow.incident_id == incident_id)
            return list((await s.scalars(stmt)).all())

    async def events(self) -> list[Any]:
        async with self.sessions() as s:
            rows = (await s.execute(select(outbox).order_by(outbox.c.seq))).all()
        return [cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data for r in rows]


@pytest.fixture
async def notifier(new_database, mailbox: Mailbox) -> AsyncIterator[Notifier]:
    url = new_database("notifier")
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, url)
    engine = db.create_engine(url)
    harness = Notifier(db.session_factory(engine), mailbox.port)
    await harness.apply_directory()
    yield harness
    await engine.dispose()


async def mails_to(mailbox: Mailbox, address: str, count: int = 1) -> list[EmailMessage]:
    await eventually(
        lambda: len(mailbox.to(address)) >= count, timeout=10, what=f"{count} mail(s) to {address}"
    )
    return mailbox.to(address)


ONE_MINUTE = timedelta(minutes=1)


@pytest.fixture
def notifier_app(infra, new_database, tmp_path: Path, mailbox: Mailbox) -> Any:
    """Start the real app (its consumer, sender and API) with this notifications.yaml, mailing ``mailbox``:
    a client with the admin key, the runtime and its topic prefix."""
    import shutil

    import yaml

    from tierline_notifier.bootstrap import create_app
    from tierline_notifier.config import Settings
    from tierline_shared.testing import app_client, app_settings

    @asynccontextmanager
    async def start(directory: dict[str, Any] | None = None) -> AsyncIterator[tuple[Any, Any]]:
        url = new_database("notifier")
        await asyncio.to_thread(migrations.upgrade, MIGRATIONS, url)
        (tmp_path / "notifications.yaml").write_text(yaml.safe_dump(directory or DIRECTORY))
        shutil.copytree(TEMPLATES, tmp_path / "templates", dirs_exist_ok=True)
        settings = app_settings(
            Settings,
            infra,
            url,
            tmp_path,
            api_key=ADMIN_KEY,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            link_secret=LINK_SECRET,
            notify_allow_hosts="127.0.0.1",
            send_poll_seconds=0.05,
        )
        app = create_app(settings)
        async with app_client(app, ADMIN_KEY, base_url="http://notifier.test") as http:
            yield http, app.state.runtime

    return start
