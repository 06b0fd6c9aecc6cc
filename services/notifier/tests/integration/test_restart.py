"""A notifier SIGKILLed in the middle of a stream of events: every message owed is sent, once on the record.

The notifier runs as a real process on the real Kafka (a topic prefix of its own), PostgreSQL and an
SMTP server in the test. It is killed while it is consuming and sending (it may hold a consumer
batch not yet committed, and claimed messages not yet recorded); a second process takes over. Every
(event, recipient, contact) has exactly one row, every row ends sent, and every row's mail arrived.
A mail the server took just before the kill, whose row was not yet marked sent, is sent again after
its lease: the two copies carry the same Message-ID, so mail clients fold them (at least once on
the wire, exactly once on the record).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from tests.support.replicas import ServiceReplicas, partitioned_producer, replica_group
from tierline_notifier.adapters.orm import NotificationRow
from tierline_shared import db, migrations
from tierline_shared.events import Envelope, IncidentAssigned
from tierline_shared.messaging import cloudevents
from tierline_shared.testing import eventually

from .conftest import DIRECTORY, LINK_SECRET, MIGRATIONS, TEMPLATES, Mailbox

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
PARTITIONS = 3
INCIDENTS = 120
WAIT = 60.0


@pytest.fixture
def notifier_url(new_database) -> str:
    url = new_database("notifier")
    migrations.upgrade(MIGRATIONS, url)
    return url


@pytest.fixture
def notifiers(
    infra, notifier_url: str, unique: str, tmp_path: Path, mailbox: Mailbox
) -> Iterator[ServiceReplicas]:
    settings = {
        "TIERLINE_DATABASE_URL": notifier_url,
        "TIERLINE_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "TIERLINE_KAFKA_TOPIC_PREFIX": f"notify-{unique}.",
        "TIERLINE_TOPIC_PARTITIONS": str(PARTITIONS),
        "TIERLINE_SMTP_HOST": "127.0.0.1",
        "TIERLINE_SMTP_PORT": str(mailbox.port),
        "TIERLINE_LINK_SECRET": LINK_SECRET,
        "TIERLINE_SEND_POLL_SECONDS": "0.05",
        "TIERLINE_SEND_BATCH_SIZE": "10",
        "TIERLINE_SEND_LEASE_SECONDS": "3",
    }
    with replica_group(
        "tierline_notifier", tmp_path, config={"notifications.yaml": DIRECTORY}, settings=settings, wait=WAIT
    ) as group:
        shutil.copytree(TEMPLATES, tmp_path / "config" / "templates")
        yield group


@pytest.fixture
async def producer(infra, unique: str) -> AsyncIterator[AIOKafkaProducer]:
    async with partitioned_producer(infra.bootstrap_servers, f"notify-{unique}.", PARTITIONS) as kafka:
        yield kafka


async def test_a_killed_notifier_loses_no_message_and_records_each_once(
    notifiers: ServiceReplicas, producer: AIOKafkaProducer, notifier_url: str, unique: str, mailbox: Mailbox
) -> None:
    import httpx

    now = datetime.now(UTC)
    for _ in range(INCIDENTS):
        event = IncidentAssigned(
            incident_id=uuid.uuid4(), tier="L1", queue="desk", assignee="alice", assigned_at=now
        )
        record = cloudevents.encode(Envelope(data=event, source="/tierline/router"))
        await producer.send(
            f"notify-{unique}." + record.topic, value=record.value, key=record.key, headers=record.headers
        )
    await producer.flush()

    engine = db.create_engine(notifier_url)
    sessions = db.session_factory(engine)

    async def rows(status: str | None = None) -> int:
        async with sessions() as s:
            stmt = select(func.count()).select_from(NotificationRow)
            if status:
                stmt = stmt.where(NotificationRow.status == status)
            return int(await s.scalar(stmt) or 0)

    try:
        async with httpx.AsyncClient() as http:
            notifiers.start("first")
            await notifiers.ready(http, "first")
            # killed mid-stream: some mail out, more owed or in flight
            await eventually(lambda: len(mailbox.received) >= 15, timeout=WAIT, what="the first mails")
            await notifiers.kill("first")
            sent_before = len(mailbox.received)
            assert sent_before < INCIDENTS, "the stream ended before the kill; nothing was tested"
            notifiers.start("second")
            await notifiers.ready(http, "second")

            async def all_sent() -> bool:
                return await rows("sent") == INCIDENTS

            await eventually(all_sent, timeout=WAIT, interval=0.2, what=f"{INCIDENTS} messages sent")
        assert await rows() == INCIDENTS  # one row per (event, recipient, contact), however often consumed
        async with sessions() as s:
            ids = {f"<{i}@tierline>" for i in await s.scalars(select(NotificationRow.id))}
    finally:
        await engine.dispose()
    received = Counter(message["Message-ID"] for _, message in mailbox.received)
    assert set(received) == ids  # every row's mail arrived, and nothing else
    repeated = {mid: n for mid, n in received.items() if n > 1}
    # a repeat is only ever a mail the server took just before the kill, sent again under its own Message-ID
    assert sum(n - 1 for n in repeated.values()) <= 10, repeated
    print(f"mails before the kill: {sent_before}; repeated on the wire: {len(repeated)}")
    await asyncio.sleep(0)
