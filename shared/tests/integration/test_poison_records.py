"""Poison and garbage records on a live consumer: each lands in the topic's DLQ with a reason a person can
act on, and the consumer keeps going (the next good record is applied, the group's offset moves past).

Already proven elsewhere, so not repeated here: a record with a ``ce_id`` header only and a body
that is no JSON (``test_messaging``: "undecodable"), and a handler that keeps failing
(``test_messaging``, ``test_messaging_batches``). Here: a record with no headers at all, a complete
CloudEvent whose body is not JSON, or not a JSON object, or uses a content type we do not read; an
unknown type of ours (and, for contrast, a foreign type, which is skipped); a known type with a
missing field or a field of the wrong type; and the two ways a newer producer shows: a
CloudEvents ``specversion`` we do not speak, and a contract's next version (``….v2``: contracts
carry their version in ``ce_type``, see ``events/base.py``), which waits in the DLQ for an upgraded
consumer and a replay. A v1 payload with a field added (a compatible change) is applied.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import db
from tierline_shared.events import Envelope, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.tables import messaging_tables
from tierline_shared.testing import eventually

from . import messaging_support as support

pytestmark = pytest.mark.integration

metadata = db.new_metadata()
_outbox, inbox_table = messaging_tables(metadata)
effects = support.effects_table(metadata)
CREATED = IncidentCreated.event_type


def _payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "incident_id": str(uuid.uuid4()),
        "title": "Printer on fire",
        "service": "printing",
        "category": "hardware",
        "priority": "P1",
        "channel": "phone",
        "reporter": "bob",
        "created_at": datetime.now(UTC).isoformat(),
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def _headers(event_id: str, **changes: str | None) -> list[tuple[str, bytes]]:
    """A CloudEvent's binary-mode headers, as ``cloudevents.encode`` writes them, with ``changes``."""
    headers: dict[str, str | None] = {
        "ce_specversion": "1.0",
        "ce_id": event_id,
        "ce_source": "/test",
        "ce_type": CREATED,
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }
    headers.update(changes)
    return [(k, v.encode()) for k, v in headers.items() if v is not None]


@pytest.fixture
async def sessions(new_database) -> AsyncIterator:
    async with support.database(new_database("poison"), metadata) as (_engine, sessions):
        yield sessions


async def test_garbage_unknown_invalid_and_future_records_are_dead_lettered_and_the_consumer_moves_on(
    infra, sessions, producer: AIOKafkaProducer, unique: str
) -> None:
    topic = f"test.poison-kinds.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    group = f"g-{unique}"

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        await session.execute(insert(effects).values(incident_id=envelope.data.incident_id, note="applied"))

    # name -> (headers, value, what its dead letter's reason must say); None: not dead-lettered
    poison: dict[str, tuple[list[tuple[str, bytes]], bytes, list[str]]] = {}

    def bad(name: str, headers: list[tuple[str, bytes]], value: bytes, *reason: str) -> None:
        poison[name] = (headers, value, list(reason))

    bad("no headers", [], b"\x00\x01 just bytes \xff", "undecodable", "missing CloudEvents headers", "ce_id")
    bad("body not JSON", _headers(str(uuid.uuid4())), b"\xff\xfe{not json", "undecodable")
    bad("body not an object", _headers(str(uuid.uuid4())), b"[1, 2, 3]", "undecodable", "not a JSON object")
    bad(
        "body as Avro",
        _headers(str(uuid.uuid4()), **{"content-type": "application/avro"}),
        json.dumps(_payload()).encode(),
        "undecodable",
        "unsupported content-type application/avro",
    )
    bad(
        "ce_id not a UUID",
        _headers("event-1"),
        json.dumps(_payload()).encode(),
        "undecodable",
        "badly formed hexadecimal UUID",
    )
    bad(
        "unknown type of ours",
        _headers(str(uuid.uuid4()), ce_type="tierline.incident.teleported.v1"),
        json.dumps(_payload()).encode(),
        "unknown event type tierline.incident.teleported.v1",
        "upgrade this consumer and replay",
    )
    bad(
        "missing field",
        _headers(str(uuid.uuid4())),
        json.dumps(_payload(title=None)).encode(),
        "undecodable",
        "IncidentCreated",
        "title",
        "Field required",
    )
    bad(
        "wrong type",
        _headers(str(uuid.uuid4())),
        json.dumps(_payload(priority=7, incident_id="not-a-uuid")).encode(),
        "undecodable",
        "2 validation errors",
        "priority",
        "incident_id",
    )
    bad(
        "future specversion",
        _headers(str(uuid.uuid4()), ce_specversion="2.0"),
        json.dumps(_payload()).encode(),
        "undecodable",
        "unsupported specversion 2.0",
    )
    bad(
        "next contract version",
        _headers(str(uuid.uuid4()), ce_type="tierline.incident.created.v2"),
        json.dumps(_payload(severity="sev1")).encode(),
        "unknown event type tierline.incident.created.v2",
        "upgrade this consumer and replay",
    )
    # Applied or skipped, never dead-lettered: a compatible addition to v1, and a type not ours.
    added = _payload(severity="sev1")
    compatible = (_headers(str(uuid.uuid4())), json.dumps(added).encode())
    foreign = (
        _headers(str(uuid.uuid4()), ce_type="com.example.invoice.paid.v1"),
        json.dumps(_payload()).encode(),
    )

    consumer = support.consumer(
        infra.bootstrap_servers, sessions, inbox_table, producer, group, topic, {IncidentCreated: handle}
    )
    # Each poison record followed by a good one, in one partition: each good one is applied only if
    # the consumer got past the record before it.
    goods: list[Envelope] = []
    for headers, value, _ in [*poison.values(), (*compatible, []), (*foreign, [])]:
        await producer.send_and_wait(topic, value=value, key=b"k", headers=headers)
        good = Envelope(data=IncidentCreated.model_validate(_payload()), source="/test")
        encoded = cloudevents.encode(good)
        await producer.send_and_wait(topic, value=encoded.value, key=encoded.key, headers=encoded.headers)
        goods.append(good)
    end = 2 * len(goods)

    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        tp = TopicPartition(topic, 0)

        async def committed() -> bool:
            return await consumer.consumer.committed(tp) == end

        await eventually(committed, timeout=30, what=f"the group's offset at the topic's end ({end})")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()

    async with sessions() as session:
        applied = list(await session.scalars(select(effects.c.incident_id)))
    wanted = [g.data.incident_id for g in goods] + [uuid.UUID(str(added["incident_id"]))]
    assert sorted(applied) == sorted(wanted)  # every good one once, the compatible v1 too

    dlq = topics.dlq(topic)
    dead = await support.read_to_end(
        infra.bootstrap_servers, [TopicPartition(dlq, 0)], f"{dlq} read to its end"
    )
    assert len(dead) == len(poison), [dict(r.headers).get("tierline_dlq_error") for r in dead]
    for index, (record, (name, (headers, value, reason))) in enumerate(
        zip(dead, poison.items(), strict=True)
    ):
        found = dict(record.headers)
        error = found["tierline_dlq_error"].decode()
        assert record.value == value, name
        assert all(part in error for part in reason), f"{name}: {error}"
        assert "Traceback" not in error, name
        assert found["tierline_dlq_consumer"] == group.encode(), name
        assert found["tierline_dlq_origin"] == f"{topic}/0/{2 * index}".encode(), name
        assert [(k, v) for k, v in record.headers if not k.startswith("tierline_dlq_")] == headers, name
