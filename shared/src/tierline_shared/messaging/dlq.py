"""Dead letters read back and applied again, after a fix: ``python -m tierline_<service> dlq replay``.

``EventConsumer`` sends a record it cannot apply to ``<topic>.dlq``, its own headers kept, plus
``tierline_dlq_error``, ``tierline_dlq_consumer`` (its group) and ``tierline_dlq_origin``
(topic/partition/offset). ``replay`` reads one DLQ, from the first record at or after ``since``
(the dead-lettering time) or from the beginning, up to the end it had when the replay began; keeps
the records the given consumer's group dead-lettered (other groups' are theirs to replay); strips
those three headers, puts back the record's origin, and hands them, a partition's records in
order, to the consumer's ``process_batch``: the live path, inbox included. So an event is applied
once however often it is replayed: a second replay finds it a duplicate.

A record that fails again is reported with its new reason and left where it is: not
dead-lettered again, so a replay never feeds itself. With ``requeue`` it goes to the DLQ again
too (new reason, same origin), past the end this replay reads to. A dry run decodes each record
and asks the inbox whether its event was applied, and changes nothing; it cannot tell whether a
handler would now succeed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeAlias, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import select

from tierline_shared.events import topics
from tierline_shared.events.base import UnknownEventType
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer
from tierline_shared.messaging.failures import is_conflict
from tierline_shared.messaging.kafka import new_admin

ERROR = "tierline_dlq_error"
CONSUMER = "tierline_dlq_consumer"
ORIGIN = "tierline_dlq_origin"
DLQ_HEADERS = frozenset({ERROR, CONSUMER, ORIGIN})
CHUNK = 100  # dead letters per transaction
CONFLICT_TRIES = 5  # a batch that lost a lock race with the live consumer goes again
STALL_SECONDS = 30.0  # no record for this long before the end seen at the start: give up

Record: TypeAlias = ConsumerRecord[Any, Any]


@dataclass(frozen=True)
class Failure:
    """A dead letter that still cannot be applied, and why."""

    origin: str
    event_id: str
    event_type: str
    reason: str


@dataclass
class ReplayReport:
    topic: str  # the DLQ read
    group: str  # whose dead letters
    dry_run: bool
    to_read: int = 0  # records in the window, of every group
    read: int = 0
    other_groups: int = 0  # dead-lettered by another consumer group: left alone
    replayed: int = 0  # applied now (dry run: would be tried)
    duplicates: int = 0  # their event applied already
    ignored: int = 0  # of a type this consumer no longer handles
    failing: list[Failure] = field(default_factory=list)
    missing: bool = False  # the DLQ does not exist (nothing was ever dead-lettered there)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _DeadLetters:
    """Takes the consumer's producer's place: keeps each new reason, forwards only to requeue."""

    def __init__(self, forward: AIOKafkaProducer | None) -> None:
        self.forward = forward
        self.reasons: dict[str, str] = {}  # origin -> reason

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None
    ) -> None:
        found = {k: v.decode("utf-8", "replace") for k, v in headers or ()}
        self.reasons[found.get(ORIGIN, "")] = found.get(ERROR, "")
        if self.forward is not None:
            await self.forward.send_and_wait(topic, value=value, key=key, headers=headers)


def restored(dead: Record, topic: str) -> Record:
    """The record as the consumer first fetched it: its origin's coordinates, without the DLQ headers."""
    headers = [(k, v) for k, v in dead.headers or () if k not in DLQ_HEADERS]
    partition, offset = dead.partition, dead.offset
    origin = _header(dead, ORIGIN).rsplit("/", 2)  # topic names never hold a "/"
    if len(origin) == 3 and origin[0] == topic and origin[1].isdigit() and origin[2].isdigit():
        partition, offset = int(origin[1]), int(origin[2])
    return ConsumerRecord(
        topic,
        partition,
        offset,
        dead.timestamp,
        dead.timestamp_type,
        dead.key,
        dead.value,
        None,
        dead.serialized_key_size,
        dead.serialized_value_size,
        headers,
    )


async def replay(
    make_consumer: Callable[[AIOKafkaProducer], EventConsumer],
    *,
    bootstrap_servers: str,
    topic: str,
    since: datetime | None = None,
    dry_run: bool = False,
    requeue: AIOKafkaProducer | None = None,
    progress: Callable[[ReplayReport], None] = lambda report: None,
) -> ReplayReport:
    """Apply again what ``make_consumer(dead_letters)``'s group dead-lettered from ``topic``.

    ``make_consumer`` builds the service's consumer around the producer it dead-letters with
    (this module's stand-in); ``topic`` is the consumed topic, as on the broker (prefixed).
    """
    sink = _DeadLetters(None if dry_run else requeue)
    consumer = make_consumer(cast(AIOKafkaProducer, sink))
    report = ReplayReport(topic=topics.dlq(topic), group=consumer.group_id, dry_run=dry_run)
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id=f"{consumer.group_id}-dlq-replay",
    )
    try:
        partitions = await _partitions(bootstrap_servers, report.topic, consumer.group_id)
        if not partitions:
            report.missing = True
            return report
        await reader.start()
        tps = [TopicPartition(report.topic, p) for p in partitions]
        windows = await _windows(reader, tps, since)
        report.to_read = sum(end - start for start, end in windows.values())
        for tp, (start, end) in windows.items():
            if start >= end:
                continue
            reader.assign([tp])
            reader.seek(tp, start)
            async for chunk in _chunks(reader, tp, end):
                report.read += len(chunk)
                mine = [r for r in chunk if _header(r, CONSUMER) == consumer.group_id]
                report.other_groups += len(chunk) - len(mine)
                if mine:
                    records = [restored(r, topic) for r in mine]
                    if dry_run:
                        await _preview(consumer, records, report)
                    else:
                        await _apply(consumer, sink, records, report)
                progress(report)
    finally:
        await reader.stop()
        await consumer.stop()  # never started: closes its client
    return report


async def _partitions(bootstrap_servers: str, topic: str, group: str) -> list[int]:
    """The topic's partitions; none if it does not exist (asked so that no broker creates it)."""
    admin = new_admin(bootstrap_servers, f"{group}-dlq-replay")
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return []
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for t in described for p in t.get("partitions") or ())


async def _windows(
    reader: AIOKafkaConsumer, tps: list[TopicPartition], since: datetime | None
) -> dict[TopicPartition, tuple[int, int]]:
    """Each partition's offsets to read: [first at or after ``since`` (or the beginning), end now)."""
    ends = await reader.end_offsets(tps)
    if since is None:
        starts = dict(await reader.beginning_offsets(tps))
    else:
        found = await reader.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        starts = {tp: ends[tp] if hit is None else hit.offset for tp, hit in found.items()}
    return {tp: (starts[tp], ends[tp]) for tp in tps}


async def _chunks(reader: AIOKafkaConsumer, tp: TopicPartition, end: int) -> AsyncIterator[list[Record]]:
    """The partition's records up to ``end``, in order, CHUNK at a time."""
    stalled_since = time.monotonic()
    while await reader.position(tp) < end:
        fetched = (await reader.getmany(tp, timeout_ms=500, max_records=CHUNK)).get(tp, [])
        chunk = [r for r in fetched if r.offset < end]
        if not chunk:
            if time.monotonic() - stalled_since > STALL_SECONDS:
                raise TimeoutError(f"{tp.topic}/{tp.partition}: no record for {STALL_SECONDS:.0f}s")
            continue
        stalled_since = time.monotonic()
        yield chunk


async def _apply(
    consumer: EventConsumer, sink: _DeadLetters, records: list[Record], report: ReplayReport
) -> None:
    for attempt in range(1, CONFLICT_TRIES + 1):
        try:
            outcomes = await consumer.process_batch(records)
            break
        except Exception as exc:
            if not is_conflict(exc) or attempt == CONFLICT_TRIES:
                raise  # a transient failure too: the database is away, the caller says so
            await asyncio.sleep(0.1 * attempt)
    for record, outcome in zip(records, outcomes, strict=True):
        if outcome == "processed":
            report.replayed += 1
        elif outcome == "duplicate":
            report.duplicates += 1
        elif outcome == "dead_lettered":
            reason = sink.reasons.get(_origin(record), "failed again")
            report.failing.append(_failure(record, reason))
        else:
            report.ignored += 1


async def _preview(consumer: EventConsumer, records: list[Record], report: ReplayReport) -> None:
    """What a replay would do, from the records and the inbox alone: nothing is applied."""
    candidates: list[tuple[Record, Any]] = []
    for record in records:
        try:
            envelope = cloudevents.decode(record.headers, record.value)
        except UnknownEventType as exc:
            if str(exc).startswith("tierline."):
                report.failing.append(_failure(record, f"unknown event type {exc}; upgrade this consumer"))
            else:
                report.ignored += 1
            continue
        except Exception as exc:  # noqa: BLE001 - what the consumer calls undecodable
            report.failing.append(_failure(record, f"undecodable: {exc}"))
            continue
        if envelope.type in consumer.handlers:
            candidates.append((record, envelope.id))
        else:
            report.ignored += 1
    if not candidates:
        return
    inbox = consumer.inbox
    async with consumer.sessions() as session:
        applied = set(
            await session.scalars(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == consumer.group_id,
                    inbox.c.event_id.in_([event_id for _, event_id in candidates]),
                )
            )
        )
    for _, event_id in candidates:
        if event_id in applied:
            report.duplicates += 1
        else:
            applied.add(event_id)  # a second copy in the window would be a duplicate
            report.replayed += 1


def _failure(record: Record, reason: str) -> Failure:
    return Failure(
        origin=_origin(record),
        event_id=_header(record, "ce_id"),
        event_type=_header(record, "ce_type"),
        reason=reason,
    )


def _origin(record: Record) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


def _header(record: Record, name: str) -> str:
    for key, value in record.headers or ():
        if key == name:
            return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)
    return ""


def summary(report: ReplayReport) -> Sequence[str]:
    """The report in a few lines for a person."""
    if report.missing:
        return [f"{report.topic}: no such topic (nothing was ever dead-lettered there)"]
    verb = "would replay" if report.dry_run else "replayed"
    lines = [
        f"{report.topic}: {report.read} dead letters read, {report.read - report.other_groups} of "
        f"{report.group} ({report.other_groups} of other consumer groups left alone)",
        f"  {verb} {report.replayed}, duplicates {report.duplicates}, ignored {report.ignored}, "
        f"still failing {len(report.failing)}",
    ]
    lines += [
        f"  still failing: {f.origin} {f.event_type or '-'} {f.event_id or '-'}: {f.reason}"
        for f in report.failing
    ]
    if report.dry_run and report.replayed:
        lines.append("  (a dry run applies nothing: whether the handlers now succeed shows only in a replay)")
    return lines
