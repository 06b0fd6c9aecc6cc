"""The live feed's ring and fan-out, without Kafka: replay after an id, resync, slow streams dropped."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from tierline_console.live import HEARTBEAT, Hub, LiveEvent, LiveStream, Ring, from_record

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


@pytest.mark.parametrize(
    ("ce_id", "ce_type"),
    [
        (b"e1\nevent: resync", b"t"),
        (b"e1\r", b"t"),
        (b"e1\0", b"t"),
        (b"e1", b"tierline.incident.updated.v1\ndata: forged"),
        (b"e1", b"t\r\n"),
    ],
)
def test_a_record_with_a_line_break_in_its_id_or_type_is_skipped(ce_id: bytes, ce_type: bytes) -> None:
    assert from_record([("ce_id", ce_id), ("ce_type", ce_type)], INCIDENT.encode()) is None


def test_streams_are_counted_until_released_and_capped_per_console_and_per_key() -> None:
    hub = Hub()
    mine = [hub.subscribe(None, owner="k1") for _ in range(3)]
    assert hub.refusal("k1", max_streams=10, per_owner=3) is not None  # k1 has its 3
    assert hub.refusal("k2", max_streams=10, per_owner=3) is None
    hub.subscribe(None, owner="k2")
    assert "console" in (hub.refusal("k3", max_streams=4, per_owner=3) or "")
    hub.release(mine[0])
    hub.release(mine[0])  # idempotent
    assert hub.open_streams == 3 and hub.per_owner["k1"] == 2
    assert hub.refusal("k1", max_streams=10, per_owner=3) is None


async def test_a_dropped_stream_still_counts_until_its_response_is_done_with() -> None:
    hub = Hub(queue_size=1)
    sub = hub.subscribe(None, owner="k1")
    hub.publish(event(1))
    hub.publish(event(2))  # dropped: no longer offered events ...
    assert sub.dropped and sub not in hub.subscribers
    assert hub.open_streams == 1 and hub.per_owner["k1"] == 1  # ... but its connection is still open
    stream = hub.stream(sub)
    assert [m async for m in stream] == [b"retry: 2000\n\n"]  # it ends, and only then ...
    assert hub.open_streams == 0 and "k1" not in hub.per_owner  # ... it stops counting


async def test_a_stream_ends_by_itself_after_its_lifetime() -> None:
    hub = Hub()
    sub = hub.subscribe(None, owner="k1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = await asyncio.wait_for(_collect(hub.stream(sub, heartbeat=0.05, lifetime=0.3)), 5)
    assert got[0] == b"retry: 2000\n\n" and set(got[1:]) <= {HEARTBEAT}
    assert 0.25 <= loop.time() - started < 3
    assert hub.open_streams == 0


async def _collect(stream: Any) -> list[bytes]:
    return [m async for m in stream]


async def _receive() -> dict[str, Any]:
    await asyncio.Event().wait()  # the browser never says anything
    return {}


SCOPE = {"type": "http", "asgi": {"spec_version": "2.4"}, "method": "GET", "path": "/live", "headers": []}


async def test_a_browser_that_reads_nothing_is_cut_off_and_released() -> None:
    hub = Hub()
    sub = hub.subscribe(None, owner="k1")
    sent: list[dict[str, Any]] = []

    async def stalled_send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message.get("body"):  # the socket's buffer is full from the first body on
            await asyncio.Event().wait()

    response = LiveStream(hub, sub, heartbeat=0.05, send_timeout=0.2)
    await asyncio.wait_for(response(SCOPE, _receive, stalled_send), 5)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert len(sent) == 2  # the retry hint, never finished
    assert hub.open_streams == 0 and sub not in hub.subscribers


async def test_a_response_that_never_streamed_is_released() -> None:
    hub = Hub()
    sub = hub.subscribe(None, owner="k1")

    async def gone(message: dict[str, Any]) -> None:
        raise OSError("the browser went away")

    response = LiveStream(hub, sub)
    with pytest.raises(ClientDisconnect):
        await response(SCOPE, _receive, gone)
    assert hub.open_streams == 0 and not hub.per_owner
