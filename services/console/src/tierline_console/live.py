"""The live feed: Kafka → a ring of recent events → each browser's ``GET /live`` (Server-Sent Events).

The consumer reads ``tierline.incidents``, ``.routing``, ``.sla`` and ``.vendor`` without a consumer
group, from the end (every replica sees every event from its start). Each record becomes a
``LiveEvent`` (its CloudEvents id, the incident it is about, its type) in a ring of the last 2,000,
and is offered to every open stream's bounded queue; a browser that does not drain its queue is
dropped (its stream ends, and the browser reconnects with ``Last-Event-ID``). A reconnect replays
what the ring holds after that id; an id the ring no longer holds gets ``event: resync``. The stream
carries no incident data: pages reload their own fragments with the person's key.

Streams are bounded: at most ``live_max_streams`` per console and ``STREAMS_PER_KEY`` per API key,
counted from the request until the response is done with (``LiveStream``: released however the
response ends, even if it never started); each ends after ``MAX_STREAM_SECONDS`` or at its session's
expiry, whichever is sooner (the browser reconnects with ``Last-Event-ID``; an ended session then
gets a 401); and a browser that does not read what it is sent for ``SEND_TIMEOUT_SECONDS`` is cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from starlette.responses import StreamingResponse
from starlette.types import Message, Send

from tierline_shared.events import topics
from tierline_shared.logging import get_logger
from tierline_shared.messaging.cloudevents import read_headers
from tierline_shared.messaging.kafka import ensure_topics, kafka_is_ready, new_admin, wait_until_usable

_log = get_logger(__name__)
TOPICS = (topics.INCIDENTS, topics.ROUTING, topics.SLA, topics.VENDOR)
RING_SIZE = 2_000
QUEUE_SIZE = 256
HEARTBEAT_SECONDS = 15.0
RETRY_MILLISECONDS = 2_000  # how soon a browser reconnects after its stream ends
STREAMS_PER_KEY = 10  # open streams (tabs) of one API key
MAX_STREAM_SECONDS = 600.0  # a stream ends after this (or at its session's expiry) and reconnects
SEND_TIMEOUT_SECONDS = 30.0  # a browser that reads nothing for this long is cut off
FORBIDDEN_IN_FIELDS = frozenset("\r\n\0")  # would break (or be ignored in) an SSE field line


@dataclass(frozen=True)
class LiveEvent:
    id: str  # the CloudEvents id
    incident_id: str | None
    type: str

    def sse(self) -> bytes:
        data = json.dumps({"incident_id": self.incident_id, "type": self.type})
        return f"id: {self.id}\nevent: incident\ndata: {data}\n\n".encode()


def resync(last_id: str | None) -> bytes:
    """Tell a browser its position is lost (it reloads its fragment); ``id`` moves it to the newest."""
    head = f"id: {last_id}\n" if last_id else ""
    return f"{head}event: resync\ndata: {{}}\n\n".encode()


HEARTBEAT = b": keepalive\n\n"


def from_record(headers: Any, key: bytes | None) -> LiveEvent | None:
    """The live event of a Kafka record (its CloudEvents headers), or None for one that is not an event."""
    try:
        found = read_headers(headers)
    except ValueError:
        return None
    event_id, event_type = found.get("ce_id"), found.get("ce_type")
    if not event_id or not event_type or len(event_id) > 100 or len(event_type) > 200:
        return None
    if FORBIDDEN_IN_FIELDS.intersection(event_id) or FORBIDDEN_IN_FIELDS.intersection(event_type):
        return None  # a line break in an "id:" line would end it early and forge the next field
    subject = found.get("ce_subject") or (key.decode(errors="replace") if key else "")
    try:
        incident_id: str | None = str(uuid.UUID(subject))
    except ValueError:
        incident_id = None  # about a vendor or a key, not one incident
    return LiveEvent(id=event_id, incident_id=incident_id, type=event_type)


class Ring:
    """The last ``size`` events, findable by id."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._events: deque[LiveEvent] = deque(maxlen=size)
        self._seq: dict[str, int] = {}  # id → its position since the start
        self._next = 0  # the position of the next event

    def add(self, event: LiveEvent) -> None:
        if event.id in self._seq:
            return  # a redelivery: browsers have it already
        if len(self._events) == self._events.maxlen:
            self._seq.pop(self._events[0].id, None)
        self._events.append(event)
        self._seq[event.id] = self._next
        self._next += 1

    @property
    def newest(self) -> str | None:
        return self._events[-1].id if self._events else None

    def after(self, event_id: str) -> list[LiveEvent] | None:
        """The events after ``event_id``, oldest first; None if the ring does not hold it."""
        seq = self._seq.get(event_id)
        if seq is None:
            return None
        first = self._next - len(self._events)
        return list(itertools.islice(self._events, seq - first + 1, None))

    def __len__(self) -> int:
        return len(self._events)


@dataclass(eq=False)
class Subscriber:
    queue: asyncio.Queue[bytes | None]
    owner: str = ""  # the API key it streams for (its id), for the per-key cap
    dropped: bool = False
    released: bool = False  # no longer counted as open


@dataclass
class Hub:
    """The ring and the open streams; everything runs on the event loop, so a subscribe sees no gap."""

    ring: Ring = field(default_factory=Ring)
    queue_size: int = QUEUE_SIZE
    subscribers: set[Subscriber] = field(default_factory=set)  # those events are offered to
    open_streams: int = 0  # streams from subscribe to release, dropped or not
    per_owner: Counter[str] = field(default_factory=Counter)

    def publish(self, event: LiveEvent) -> None:
        self.ring.add(event)
        message = event.sse()
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        """End a stream that fell behind: it reconnects and replays from the ring."""
        _log.info("live_subscriber_dropped", backlog=sub.queue.qsize())
        self.subscribers.discard(sub)
        sub.dropped = True
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)

    def refusal(self, owner: str, max_streams: int, per_owner: int = STREAMS_PER_KEY) -> str | None:
        """Why a new stream for ``owner`` may not open now, or None when it may."""
        if self.open_streams >= max_streams:
            return "too many live streams are open on this console; try again later"
        if self.per_owner[owner] >= per_owner:
            return f"this API key has {per_owner} live streams open already; close a tab and try again"
        return None

    def subscribe(self, last_event_id: str | None, owner: str = "") -> Subscriber:
        """A new stream's queue, holding first what it missed since ``last_event_id`` (or a resync);
        it counts as open until ``release``."""
        sub = Subscriber(queue=asyncio.Queue(self.queue_size), owner=owner)
        self.open_streams += 1
        self.per_owner[owner] += 1
        if last_event_id:
            missed = self.ring.after(last_event_id)
            backlog = [resync(self.ring.newest)] if missed is None else [e.sse() for e in missed]
            if len(backlog) > self.queue_size:
                backlog = [resync(self.ring.newest)]
            for message in backlog:
                sub.queue.put_nowait(message)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def release(self, sub: Subscriber) -> None:
        """The stream's connection is done with: it no longer counts (idempotent)."""
        self.unsubscribe(sub)
        if sub.released:
            return
        sub.released = True
        self.open_streams -= 1
        self.per_owner[sub.owner] -= 1
        if self.per_owner[sub.owner] <= 0:
            del self.per_owner[sub.owner]

    def close(self) -> None:
        """End every open stream (the console is stopping)."""
        for sub in list(self.subscribers):
            self._drop(sub)

    async def stream(
        self, sub: Subscriber, heartbeat: float = HEARTBEAT_SECONDS, lifetime: float = MAX_STREAM_SECONDS
    ) -> AsyncGenerator[bytes, None]:
        """The SSE body of one browser: a retry hint, then events, a comment line when idle; it ends
        after ``lifetime`` seconds (the browser reconnects with Last-Event-ID)."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + lifetime
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n".encode()
            while (left := ends - loop.time()) > 0:
                try:
                    message = await asyncio.wait_for(sub.queue.get(), min(heartbeat, left))
                except TimeoutError:
                    if ends - loop.time() > 0:
                        yield HEARTBEAT
                    continue
                if message is None:
                    return
                yield message
        finally:
            self.release(sub)


class LiveStream(StreamingResponse):
    """``GET /live``'s response: the hub's stream of ``sub``, released however the response ends
    (even never started), and cut off when the browser reads nothing for ``send_timeout`` seconds
    (a stalled socket would otherwise hold its stream, and its place in the caps, indefinitely)."""

    def __init__(
        self,
        hub: Hub,
        sub: Subscriber,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        lifetime: float = MAX_STREAM_SECONDS,
        send_timeout: float = SEND_TIMEOUT_SECONDS,
    ) -> None:
        self.events = hub.stream(sub, heartbeat, lifetime)
        super().__init__(
            self.events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.hub, self.sub, self.send_timeout = hub, sub, send_timeout

    async def stream_response(self, send: Send) -> None:
        async def bounded(message: Message) -> None:
            await asyncio.wait_for(send(message), self.send_timeout)

        try:
            await super().stream_response(bounded)
        except TimeoutError:
            _log.info("live_stream_stalled", send_timeout=self.send_timeout)
        finally:
            await self.events.aclose()  # runs the stream's own finally, if it started
            self.hub.release(self.sub)


class LiveFeed:
    """The consumer that feeds the hub: started and stopped with the app, retrying while Kafka is away."""

    def __init__(
        self,
        hub: Hub,
        bootstrap_servers: str,
        *,
        topic_prefix: str = "",
        partitions: int = 6,
        replication_factor: int = 1,
        consumer_factory: Callable[..., AIOKafkaConsumer] = AIOKafkaConsumer,
    ) -> None:
        self.hub = hub
        self.bootstrap_servers = bootstrap_servers
        self.topics: list[str] = [topic_prefix + t for t in TOPICS]
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._consumer_factory = consumer_factory
        self.ready = asyncio.Event()  # reading from the end of every partition
        self._task: asyncio.Task[None] | None = None
        self._admin: AIOKafkaAdminClient | None = None

    def start(self) -> None:
        self.ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="live-feed")

    async def stop(self) -> None:
        self.hub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
            self._admin = None

    def alive(self) -> bool:
        """/healthz: the consumer loop runs (it retries on errors, so a finished task is a fault)."""
        return self._task is not None and not self._task.done()

    async def kafka_ready(self) -> bool:
        """/readyz: Kafka answers a metadata request and the consumer reads."""
        if self._admin is None or not self.ready.is_set():
            return False
        return await kafka_is_ready(self._admin)

    async def _run(self) -> None:
        pause = 0.5
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: log, wait, read again from the end
                self.ready.clear()
                _log.warning("live_feed_failed", error=f"{type(exc).__name__}: {exc}", retry_in=pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 15.0)

    async def _connect_admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = new_admin(self.bootstrap_servers, "tierline-console-admin")
            await admin.start()
            self._admin = admin
        return self._admin

    async def _consume(self) -> None:
        admin = await self._connect_admin()
        await ensure_topics(
            admin, self.topics, partitions=self.partitions, replication_factor=self.replication_factor
        )
        await wait_until_usable(admin, self.topics, timeout=30)
        consumer = self._consumer_factory(
            *self.topics,
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            client_id=f"tierline-console-live-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            await self._at_the_end(consumer)
            self.ready.set()
            _log.info("live_feed_started", topics=list(self.topics), partitions=len(consumer.assignment()))
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                for records in batches.values():
                    for record in records:
                        event = from_record(record.headers, record.key)
                        if event is not None:
                            self.hub.publish(event)
        finally:
            self.ready.clear()
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _at_the_end(self, consumer: AIOKafkaConsumer) -> None:
        """Wait for every partition to be assigned and positioned at its end (events from now on)."""
        deadline = asyncio.get_running_loop().time() + 30
        wanted = set(self.topics)
        while {tp.topic for tp in consumer.assignment()} != wanted:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the live feed's partitions were not assigned in 30 s")
            await asyncio.sleep(0.05)
        for tp in consumer.assignment():
            await consumer.position(tp)
