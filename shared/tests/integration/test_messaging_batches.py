"""A partition's batch in one transaction: savepoints per event, dead letters, retries, rewinds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import db
from tierline_shared.errors import DomainError
from tierline_shared.events import Envelope, IncidentAcknowledged, IncidentCreated, topics
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer, is_conflict
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.messaging.tables import messaging_tables
from tierline_shared.testing import eventually

from . import messaging_support as support
from .messaging_support import envelope as _envelope

pytestmark = pytest.mark.integration

metadata = db.new_metadata()
_outbox, inbox_table = messaging_tables(metadata)
effects = support.effects_table(metadata)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


def _records(topic: str, *envelopes: Envelope, first_offset: int = 0) -> list[ConsumerRecord]:
    """What one fetch of one partition would hand the consumer."""
    return [support.fetched(topic, offset, e) for offset, e in enumerate(envelopes, start=first_offset)]


@pytest.fixture
async def sessions(new_database) -> AsyncIterator:
    async with support.database(new_database("batches"), metadata) as (_engine, sessions):
        yield sessions


@pytest.fixture
async def new_consumer(infra, sessions, producer) -> AsyncIterator[Callable[..., EventConsumer]]:
    """EventConsumer(group, topic, handler, **options) on this test's database; all stopped at the end."""
    made: list[EventConsumer] = []

    def new(group: str, topic: str, handler: Handler, **options) -> EventConsumer:
        made.append(
            support.consumer(
                infra.bootstrap_servers,
                sessions,
                inbox_table,
                producer,
                group,
                topic,
                {IncidentCreated: handler},
                **{"max_attempts": 3, **options},
            )
        )
        return made[-1]

    yield new
    for consumer in made:
        await consumer.stop()


async def _note(session: AsyncSession, envelope: Envelope, note: str = "done") -> None:
    await session.execute(insert(effects).values(incident_id=envelope.data.incident_id, note=note))


async def _effects(sessions) -> dict[uuid.UUID, list[str]]:
    async with sessions() as session:
        rows = (
            await session.execute(select(effects.c.incident_id, effects.c.note).order_by(effects.c.id))
        ).all()
    found: dict[uuid.UUID, list[str]] = {}
    for incident_id, note in rows:
        found.setdefault(incident_id, []).append(note)
    return found


async def _inboxed(sessions) -> set[uuid.UUID]:
    async with sessions() as session:
        return set(await session.scalars(select(inbox_table.c.event_id)))


async def _dead_letters(infra, topic: str, count: int) -> list[ConsumerRecord]:
    dlq = AIOKafkaConsumer(
        topics.dlq(topic), bootstrap_servers=infra.bootstrap_servers, auto_offset_reset="earliest"
    )
    await dlq.start()
    dead: list[ConsumerRecord] = []

    async def read() -> bool:
        for records in (await dlq.getmany(timeout_ms=200)).values():
            dead.extend(records)
        return len(dead) >= count

    try:
        await eventually(read, what=f"{count} dead letter(s)")
        await asyncio.sleep(0.3)
        await read()  # and no more
    finally:
        await dlq.stop()
    return dead


async def test_a_poison_event_mid_batch_goes_alone_to_the_dlq_and_can_be_replayed(
    infra, sessions, new_consumer, unique: str
) -> None:
    topic = f"test.batch-poison.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    first, poison, last = _envelope(), _envelope(), _envelope()
    fixed = False
    committed: list[uuid.UUID] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        await _note(session, envelope, "half")  # written first: a failure must undo it
        db.on_commit(session, lambda: committed.append(envelope.data.incident_id))
        if envelope.id == poison.id and not fixed:
            raise DomainError("cannot apply this one")

    consumer = new_consumer(f"g-{unique}", topic, handler)
    outcomes = await consumer.process_batch(_records(topic, first, poison, last))

    assert outcomes == ["processed", "dead_lettered", "processed"]
    assert await _effects(sessions) == {first.data.incident_id: ["half"], last.data.incident_id: ["half"]}
    assert committed == [first.data.incident_id, last.data.incident_id]  # the poison's action dropped
    assert await _inboxed(sessions) == {first.id, last.id}  # no inbox row: a replay applies it
    [dead] = await _dead_letters(infra, topic, 1)
    assert dead.value == cloudevents.encode(poison).value
    headers = dict(dead.headers)
    assert headers["tierline_dlq_error"].startswith(b"DomainError: ")
    assert b"cannot apply this one" in headers["tierline_dlq_error"]
    assert headers["tierline_dlq_consumer"] == f"g-{unique}".encode()
    assert headers["tierline_dlq_origin"] == f"{topic}/0/1".encode()
    assert headers["ce_id"] == str(poison.id).encode()

    # Replayed from the DLQ once the consumer is fixed: applied once, the others stay applied once.
    fixed = True
    replay = ConsumerRecord(topic, 0, 3, 0, 0, dead.key, dead.value, None, 0, 0, dead.headers)
    assert await consumer.process_batch([replay, *_records(topic, first, last, first_offset=4)]) == [
        "processed",
        "duplicate",
        "duplicate",
    ]
    applied = await _effects(sessions)
    assert applied[poison.data.incident_id] == ["half"]
    assert applied[first.data.incident_id] == applied[last.data.incident_id] == ["half"]


async def test_a_failing_event_is_retried_alone_within_its_batch(
    infra, sessions, producer, new_consumer, unique
) -> None:
    topic = f"test.batch-retry.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    envelopes = [_envelope() for _ in range(3)]
    flaky = envelopes[1]
    calls: dict[uuid.UUID, int] = {}
    committed: list[uuid.UUID] = []
    woken = 0

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        calls[envelope.id] = calls.get(envelope.id, 0) + 1
        await _note(session, envelope, f"try {calls[envelope.id]}")
        db.on_commit(session, lambda: committed.append(envelope.id))
        if envelope.id == flaky.id and calls[envelope.id] <= 2:
            raise ValueError("lost a race, try again")

    def wake() -> None:
        nonlocal woken
        woken += 1

    consumer = new_consumer(f"g-{unique}", topic, handler, after_commit=wake)
    assert await consumer.process_batch(_records(topic, *envelopes)) == ["processed"] * 3
    # The batch ran without savepoints and was rolled back at the failure; then again, each
    # event in a savepoint: the one before the failure ran twice, its effect is there once;
    # the failing one failed once more there, undoing only its own savepoint, then applied.
    assert calls == {envelopes[0].id: 2, flaky.id: 3, envelopes[2].id: 1}
    applied = await _effects(sessions)
    assert applied == {
        envelopes[0].data.incident_id: ["try 2"],
        flaky.data.incident_id: ["try 3"],  # the failed tries' writes undone, only their own
        envelopes[2].data.incident_id: ["try 1"],
    }
    assert committed == [e.id for e in envelopes]
    assert woken == 3  # once per processed event, after the commit
    assert await _inboxed(sessions) == {e.id for e in envelopes}


async def test_duplicates_inside_a_batch_and_across_batches_take_effect_once(
    infra, sessions, producer, new_consumer, unique
) -> None:
    topic = f"test.batch-duplicates.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    a, b, c = _envelope(), _envelope(), _envelope()
    calls: list[uuid.UUID] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        calls.append(envelope.id)
        await _note(session, envelope)

    consumer = new_consumer(f"g-{unique}", topic, handler)
    assert await consumer.process_batch(_records(topic, a, b, a, b)) == [
        "processed",
        "processed",
        "duplicate",
        "duplicate",
    ]
    assert await consumer.process_batch(_records(topic, b, c, c, a, first_offset=4)) == [
        "duplicate",
        "processed",
        "duplicate",
        "duplicate",
    ]
    assert calls == [a.id, b.id, c.id]
    applied = await _effects(sessions)
    assert applied == {e.data.incident_id: ["done"] for e in (a, b, c)}


async def test_a_transient_failure_mid_batch_commits_nothing_and_the_batch_goes_again(
    infra, sessions, producer, new_consumer, unique
) -> None:
    topic = f"test.batch-transient.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    envelopes = [_envelope() for _ in range(6)]
    away = {"left": 1}
    calls: list[uuid.UUID] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        calls.append(envelope.id)
        await _note(session, envelope)
        if envelope.id == envelopes[3].id and away["left"] > 0:
            away["left"] -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database restarting"))

    # Directly: the batch raises and leaves nothing behind.
    consumer = new_consumer(f"g-{unique}", topic, handler)
    with pytest.raises(OperationalError):
        await consumer.process_batch(_records(topic, *envelopes))
    assert calls == [e.id for e in envelopes[:4]]  # stopped at the failure, not dead-lettered
    assert await _effects(sessions) == {}
    assert await _inboxed(sessions) == set()

    # Through Kafka: the consumer rewinds to the batch's first offset and applies it all once.
    calls.clear()
    away["left"] = 1
    for envelope in envelopes:
        encoded = cloudevents.encode(envelope)
        await producer.send(topic, value=encoded.value, key=encoded.key, headers=encoded.headers)
    await producer.flush()
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _all_applied(sessions, len(envelopes)), timeout=30, what="the batch applied")
        end = await consumer.consumer.end_offsets(list(consumer.consumer.assignment()))

        async def committed() -> bool:
            return all([(await consumer.consumer.committed(tp) or 0) == offset for tp, offset in end.items()])

        await eventually(committed, what="offsets committed")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
    assert calls.count(envelopes[3].id) == 2 and set(calls) == {e.id for e in envelopes}
    assert await _effects(sessions) == {e.data.incident_id: ["done"] for e in envelopes}
    assert await _inboxed(sessions) == {e.id for e in envelopes}
    assert await _dead_letter_count(infra, topic) == 0


async def test_a_fetch_is_applied_in_transactions_of_at_most_max_batch_events(
    infra, sessions, producer, new_consumer, unique
) -> None:
    topic = f"test.batch-bound.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    envelopes = [_envelope() for _ in range(5)]
    transactions: list[int] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        transactions.append(await session.scalar(select(func.txid_current())))
        await _note(session, envelope)

    for envelope in envelopes:
        encoded = cloudevents.encode(envelope)
        await producer.send(topic, value=encoded.value, key=encoded.key, headers=encoded.headers)
    await producer.flush()
    consumer = new_consumer(f"g-{unique}", topic, handler, max_batch=2)
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _all_applied(sessions, len(envelopes)), timeout=30, what="all applied")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
    per_transaction = [transactions.count(t) for t in dict.fromkeys(transactions)]
    assert max(per_transaction) <= 2 and sum(per_transaction) == 5


async def _dead_letter_count(infra, topic: str) -> int:
    dlq = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap_servers, group_id=None)
    await dlq.start()
    try:
        partition = TopicPartition(topics.dlq(topic), 0)
        dlq.assign([partition])
        return int((await dlq.end_offsets([partition]))[partition])
    finally:
        await dlq.stop()


async def test_replicas_deadlocking_on_advisory_locks_retry_their_batch(
    infra, sessions, producer, new_consumer, unique
) -> None:
    """Two consumers whose batches lock the same keys in opposite orders: PostgreSQL picks a victim."""
    one, two = f"test.batch-lock-a.{unique}", f"test.batch-lock-b.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, one)
    await support.make_topic_with_dlq(infra.bootstrap_servers, two)
    both_locked = asyncio.Event()
    holding: set[str] = set()
    calls: list[str] = []

    def locking(name: str, first: str, then: str) -> Handler:
        async def handler(session: AsyncSession, envelope: Envelope) -> None:
            calls.append(name)
            await db.advisory_xact_lock(session, f"{unique}:{first}")
            holding.add(name)
            if len(holding) == 2:
                both_locked.set()
            await asyncio.wait_for(both_locked.wait(), 10)
            await db.advisory_xact_lock(session, f"{unique}:{then}")  # one of the two deadlocks
            await _note(session, envelope, name)

        return handler

    consumers = [
        new_consumer(f"g1-{unique}", one, locking("one", "a", "b")),
        new_consumer(f"g2-{unique}", two, locking("two", "b", "a")),
    ]
    sent = {one: _envelope(), two: _envelope()}
    for topic, envelope in sent.items():
        encoded = cloudevents.encode(envelope)
        await producer.send_and_wait(topic, value=encoded.value, key=encoded.key, headers=encoded.headers)

    # Directly, the victim's error is told apart as a conflict, and its batch left nothing.
    results = await asyncio.gather(
        consumers[0].process_batch(_records(one, sent[one])),
        consumers[1].process_batch(_records(two, sent[two])),
        return_exceptions=True,
    )
    [victim] = [r for r in results if isinstance(r, BaseException)]
    assert isinstance(victim, DBAPIError) and is_conflict(victim)
    assert not is_conflict(OperationalError("SELECT 1", {}, ConnectionRefusedError()))
    assert sum(len(v) for v in (await _effects(sessions)).values()) == 1
    async with sessions() as session:
        await session.execute(effects.delete())
        await session.execute(inbox_table.delete())
        await session.commit()

    # Running: the victim's batch is rolled back, rewound and applied; each effect once, no dead letter.
    holding.clear()
    both_locked.clear()
    calls.clear()
    tasks = []
    for consumer in consumers:
        await consumer.start()
        tasks.append(asyncio.create_task(consumer.run()))
    try:
        await eventually(lambda: len(calls) >= 3, timeout=30, what="both applied, one of them twice")
        applied = await eventually(lambda: _all_applied(sessions, 2), timeout=30, what="both effects")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for consumer in consumers:
            await consumer.stop()
    assert sorted(calls) in (["one", "one", "two"], ["one", "two", "two"])
    assert applied == {sent[one].data.incident_id: ["one"], sent[two].data.incident_id: ["two"]}
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(inbox_table)) == 2
    assert await _dead_letter_count(infra, one) == await _dead_letter_count(infra, two) == 0


async def _all_applied(sessions, count: int) -> dict[uuid.UUID, list[str]] | None:
    applied = await _effects(sessions)
    return applied if len(applied) == count else None


def _statements(sessions) -> list[str]:
    """Every statement the test's engine sends from now on (an executemany counts once)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(" ".join(statement.split()))

    sa_event.listen(sessions.kw["bind"].sync_engine, "before_cursor_execute", record)
    return sent


async def test_what_a_batch_stages_is_written_in_one_insert_without_what_its_poison_staged(
    infra, sessions, new_consumer, unique
) -> None:
    topic = f"test.batch-outbox.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    outbox = Outbox(_outbox, source="/test")
    envelopes = [_envelope() for _ in range(4)]
    poison = envelopes[2]
    staged: dict[uuid.UUID, list[uuid.UUID]] = {}

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        incident = envelope.data.incident_id
        events = [IncidentAcknowledged(incident_id=incident, acknowledged_at=datetime.now(UTC)) for _ in "ab"]
        staged[envelope.id] = [e.id for e in await outbox.add_many(session, events)]
        if envelope.id == poison.id:
            raise DomainError("cannot apply this one")

    consumer = new_consumer(f"g-{unique}", topic, handler)
    sent = _statements(sessions)
    outcomes = await consumer.process_batch(_records(topic, *envelopes))

    assert outcomes == ["processed", "processed", "dead_lettered", "processed"]
    async with sessions() as session:
        written = list(await session.scalars(select(_outbox.c.event_id).order_by(_outbox.c.seq)))
    # the events of the applied ones, in the order they were staged; none of the poison's
    assert written == [i for e in envelopes if e is not poison for i in staged[e.id]]
    # the careful re-run (each event in a savepoint) wrote them with one INSERT, as a batch does
    assert sum(s.startswith("INSERT INTO outbox") for s in sent) == 1

    sent.clear()
    assert await consumer.process_batch(_records(topic, _envelope(), _envelope(), first_offset=4)) == [
        "processed",
        "processed",
    ]
    assert sum(s.startswith("INSERT INTO outbox") for s in sent) == 1


async def test_a_batch_takes_its_handlers_advisory_locks_up_front_in_one_statement(
    infra, sessions, new_consumer, unique
) -> None:
    topic = f"test.batch-locks.{unique}"
    await support.make_topic_with_dlq(infra.bootstrap_servers, topic)
    a, b = _envelope(), _envelope()
    again = Envelope(data=a.data.model_copy(), source="/test")  # another event of incident a
    held_at_first: list[int] = []

    async def handler(session: AsyncSession, envelope: Envelope) -> None:
        await db.advisory_xact_lock(session, f"{unique}:{envelope.data.incident_id}")  # held already
        if not held_at_first:
            held_at_first.append(
                await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                    )
                )
            )
        await _note(session, envelope)

    def lock_key(envelope: Envelope) -> str:
        return f"{unique}:{envelope.data.incident_id}"

    consumer = new_consumer(f"g-{unique}", topic, handler, lock_key=lock_key)
    sent = _statements(sessions)
    assert await consumer.process_batch(_records(topic, a, b, again)) == ["processed"] * 3
    assert held_at_first == [2]  # both incidents' locks before the first event was applied
    assert sum("pg_advisory_xact_lock" in s for s in sent) == 1


async def test_an_advisory_lock_taken_in_a_rolled_back_savepoint_is_taken_again(sessions, unique) -> None:
    key = f"{unique}:savepoint"

    async def free_elsewhere() -> bool:
        return await _free_elsewhere(sessions, key)

    async with sessions() as session, session.begin():
        nested = await session.begin_nested()
        await db.advisory_xact_lock(session, key)
        assert not await free_elsewhere()
        await nested.rollback()  # PostgreSQL releases what the savepoint took ...
        assert await free_elsewhere()
        await db.advisory_xact_lock(session, key)  # ... so it is not "held" here any more
        assert not await free_elsewhere()
        await db.advisory_xact_locks(session, [key, f"{key}:2"])
        assert not await free_elsewhere()
    assert await free_elsewhere()  # the transaction's end released it


async def test_a_lock_held_by_a_committed_transaction_is_taken_again_by_the_next(sessions, unique) -> None:
    """The same session, two transactions: the second must not trust what the first held."""
    key = f"{unique}:next"

    async def free_elsewhere() -> bool:
        return await _free_elsewhere(sessions, key)

    async with sessions() as session:
        async with session.begin():
            await db.advisory_xact_lock(session, key)
            assert not await free_elsewhere()
        assert await free_elsewhere()  # committed: released
        async with session.begin():
            await db.advisory_xact_lock(session, key)
            assert not await free_elsewhere()  # taken again, not skipped as "held"
        async with session.begin():
            await db.advisory_xact_locks(session, [key])
            assert not await free_elsewhere()


async def _free_elsewhere(sessions, key: str) -> bool:
    """Whether another transaction could take the advisory lock ``key`` now."""
    async with sessions() as other, other.begin():
        return bool(await other.scalar(select(func.pg_try_advisory_xact_lock(func.hashtextextended(key, 0)))))
