"""The live feed's ring and fan-out, without Kafka: replay after an id, resync, slow streams dropped."""

from __future__ import annotations

import asyncio
import uuid

from tierline_console.live import HEARTBEAT, Hub, LiveEvent, Ring, from_record

INCIDENT = "0b4f8e2a-54a1-4f6e-9d1e-6a0c2b7e4f11"


def event(n: int) -> LiveEvent:
    return LiveEvent(id=f"e{n}", incident_id=INCIDENT, type="tierline.incident.updated.v1")


def ids(messages: list[bytes | None]) -> list[str]:
    out = []
    for message in messages:
        assert message is not None
        first = message.decode().splitlines()[0]
        out.append(first.removeprefix("id: "))
    return out


def drain(queue: asyncio.Queue[bytes | None]) -> list[bytes | None]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def test_an_event_is_an_sse_message_with_its_cloudevents_id_and_no_incident_data() -> None:
    assert event(1).sse() == (
        b'id: e1\nevent: incident\ndata: {"incident_id": "' + INCIDENT.encode() + b'", '
        b'"type": "tierline.incident.updated.v1"}\n\n'
    )


def test_the_ring_keeps_the_newest_and_replays_after_an_id() -> None:
    ring = Ring(size=3)
    for n in range(5):
        ring.add(event(n))
    assert len(ring) == 3 and ring.newest == "e4"
    assert [e.id for e in ring.after("e2") or []] == ["e3", "e4"]
    assert ring.after("e4") == []
    assert ring.after("e1") is None  # pushed out
    assert ring.after("never") is None


def test_a_redelivered_event_is_kept_once() -> None:
    ring = Ring(size=3)
    for n in (1, 2, 1):
        ring.add(event(n))
    assert len(ring) == 2 and [e.id for e in ring.after("e1") or []] == ["e2"]


async def test_every_subscriber_gets_each_event() -> None:
    hub = Hub()
    a, b = hub.subscribe(None), hub.subscribe(None)
    hub.publish(event(1))
    assert ids(drain(a.queue)) == ["e1"] and ids(drain(b.queue)) == ["e1"]


async def test_a_reconnect_replays_what_it_missed_then_goes_on_live() -> None:
    hub = Hub()
    for n in range(4):
        hub.publish(event(n))
    sub = hub.subscribe("e1")
    hub.publish(event(4))
    assert ids(drain(sub.queue)) == ["e2", "e3", "e4"]


async def test_an_id_the_ring_no_longer_holds_gets_a_resync_moved_to_the_newest() -> None:
    hub = Hub(ring=Ring(size=2))
    for n in range(3):
        hub.publish(event(n))
    sub = hub.subscribe("e0")
    assert drain(sub.queue) == [b"id: e2\nevent: resync\ndata: {}\n\n"]
    empty = Hub().subscribe("e0")  # a console that just started holds nothing
    assert drain(empty.queue) == [b"event: resync\ndata: {}\n\n"]


async def test_a_slow_subscriber_is_dropped_and_the_others_keep_going() -> None:
    hub = Hub(queue_size=3)
    slow, fast = hub.subscribe(None), hub.subscribe(None)
    for n in range(3):
        hub.publish(event(n))
        drain(fast.queue)
    hub.publish(event(3))  # slow's queue is full
    assert slow.dropped and slow not in hub.subscribers
    assert drain(slow.queue) == [None]  # its stream ends; the browser reconnects with Last-Event-ID
    assert ids(drain(fast.queue)) == ["e3"] and not fast.dropped
    assert ids(drain(hub.subscribe("e0").queue)) == ["e1", "e2", "e3"]  # and replays what it missed


async def test_a_replay_longer_than_the_queue_is_a_resync() -> None:
    hub = Hub(queue_size=3)
    for n in range(5):
        hub.publish(event(n))
    assert ids(drain(hub.subscribe("e1").queue)) == ["e2", "e3", "e4"]  # fits
    assert drain(hub.subscribe("e0").queue) == [b"id: e4\nevent: resync\ndata: {}\n\n"]


async def test_the_stream_sends_a_retry_hint_events_and_heartbeats_and_ends_when_dropped() -> None:
    hub = Hub()
    sub = hub.subscribe(None)
    stream = hub.stream(sub, heartbeat=0.05)
    assert await anext(stream) == b"retry: 2000\n\n"
    assert await asyncio.wait_for(anext(stream), 2) == HEARTBEAT  # idle: a comment line
    hub.publish(event(7))
    assert ids([await asyncio.wait_for(anext(stream), 2)]) == ["e7"]
    hub.close()
    assert [m async for m in stream] == []
    assert sub not in hub.subscribers


async def test_a_closed_stream_unsubscribes() -> None:
    hub = Hub()
    sub = hub.subscribe(None)
    stream = hub.stream(sub)
    await anext(stream)
    await stream.aclose()
    assert sub not in hub.subscribers


def test_records_become_live_events_and_junk_is_skipped() -> None:
    eid = str(uuid.uuid4())
    headers = [
        ("ce_id", eid.encode()),
        ("ce_type", b"tierline.incident.created.v1"),
        ("ce_subject", INCIDENT.encode()),
    ]
    assert from_record(headers, INCIDENT.encode()) == LiveEvent(eid, INCIDENT, "tierline.incident.created.v1")
    vendor = [("ce_id", b"v1"), ("ce_type", b"tierline.vendor.changed.v1"), ("ce_subject", b"acme")]
    assert from_record(vendor, b"acme") == LiveEvent("v1", None, "tierline.vendor.changed.v1")
    no_subject = [("ce_id", b"x"), ("ce_type", b"t")]
    assert from_record(no_subject, INCIDENT.encode()) == LiveEvent("x", INCIDENT, "t")
    assert from_record([("ce_type", b"t")], None) is None
    assert from_record([("ce_id", b"\xff"), ("ce_type", b"t")], None) is None
