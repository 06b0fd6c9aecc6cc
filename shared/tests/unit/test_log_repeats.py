"""aiokafka repeats itself thousands of times while the broker is away; the log keeps one line a kind."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from tierline_shared.logging import (
    REPEAT_INTERVAL_SECONDS,
    SUPPRESSED_EVENT,
    configure_logging,
    get_logger,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[io.StringIO]:
    """configure_logging writing to a buffer with a fake clock; the logging set-up is put back afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    kafka_level = logging.getLogger("aiokafka").level
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    configure_logging("tests", monotonic=clock)
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.getLogger("aiokafka").setLevel(kafka_level)
        structlog.configure(**config)
        structlog.contextvars.unbind_contextvars("service")


def _lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_thousand_identical_aiokafka_errors_give_one_line_then_a_count(
    json_logs: io.StringIO, clock: FakeClock
) -> None:
    client = logging.getLogger("aiokafka.client")
    for node in range(1000):
        client.error("Unable connect to node with id %s: %s", node % 3, "Connect call failed")
    lines = _lines(json_logs)
    assert [line["event"] for line in lines] == ["Unable connect to node with id 0: Connect call failed"]
    assert lines[0]["level"] == "error" and lines[0]["logger"] == "aiokafka.client"

    clock.now += REPEAT_INTERVAL_SECONDS
    client.error("Unable connect to node with id %s: %s", 1, "Connect call failed")
    summary, again = _lines(json_logs)[1:]
    assert summary == summary | {
        "event": SUPPRESSED_EVENT,
        "logger": "aiokafka.client",
        "level": "error",
        "suppressed": 999,
        "template": "Unable connect to node with id %s: %s",
        "interval_seconds": REPEAT_INTERVAL_SECONDS,
        "service": "tests",
    }
    assert again["event"] == "Unable connect to node with id 1: Connect call failed"  # a new interval's first


def test_first_occurrences_of_other_kinds_pass(json_logs: io.StringIO) -> None:
    for attempt in range(200):
        logging.getLogger("aiokafka.client").error("Unable to update metadata from %s", [attempt])
        logging.getLogger("aiokafka.client").warning("Unable to update metadata from %s", [attempt])
        logging.getLogger("aiokafka.conn").error("Unable to update metadata from %s", [attempt])
        logging.getLogger("kafka.conn").warning(f"Node {attempt} disconnected")  # numbers pre-formatted
    events = [(line["logger"], line["level"], line["event"]) for line in _lines(json_logs)]
    assert events == [
        ("aiokafka.client", "error", "Unable to update metadata from [0]"),
        ("aiokafka.client", "warning", "Unable to update metadata from [0]"),
        ("aiokafka.conn", "error", "Unable to update metadata from [0]"),
        ("kafka.conn", "warning", "Node 0 disconnected"),
    ]


def test_other_libraries_and_our_own_lines_are_never_held_back(json_logs: io.StringIO) -> None:
    for _ in range(300):
        logging.getLogger("sqlalchemy.pool").warning("connection %s invalid", 7)
        logging.getLogger("aiokafkaesque").warning("not a Kafka client")  # a prefix, not the package
        get_logger("tierline_shared.runtime").warning("background_task_crashed", task="poller")
    assert len(_lines(json_logs)) == 900


def test_a_flood_that_stops_is_counted_on_the_next_line_of_any_logger(
    json_logs: io.StringIO, clock: FakeClock
) -> None:
    producer = logging.getLogger("aiokafka.producer.sender")
    for _ in range(50):
        producer.warning("Got error produce response: %s", "NotLeaderForPartitionError")
    clock.now += REPEAT_INTERVAL_SECONDS - 0.5
    get_logger("tests.ours").info("still_inside_the_interval")
    clock.now += 0.5
    get_logger("tests.ours").info("after_the_interval")
    events = [(line["event"], line.get("suppressed")) for line in _lines(json_logs)]
    assert events == [
        ("Got error produce response: NotLeaderForPartitionError", None),
        ("still_inside_the_interval", None),
        (SUPPRESSED_EVENT, 49),
        ("after_the_interval", None),
    ]
    clock.now += 3 * REPEAT_INTERVAL_SECONDS
    get_logger("tests.ours").info("much_later")
    assert _lines(json_logs)[-1]["event"] == "much_later"  # counted once, never again
