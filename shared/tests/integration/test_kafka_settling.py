"""A service waits for new topics' leaders and its group's coordinator, so a normal start logs no errors."""

from __future__ import annotations

import logging

import pytest

from tierline_shared.messaging.kafka import ensure_topics, new_admin, new_producer, wait_until_usable


@pytest.fixture
async def admin(infra):
    client = new_admin(infra.bootstrap_servers, "settling-test")
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def test_new_topics_take_records_without_a_retry_once_settled(infra, admin, unique, caplog) -> None:
    topics = [f"settle-{unique}.a", f"settle-{unique}.b"]
    await ensure_topics(admin, topics, partitions=6, replication_factor=1)
    assert await wait_until_usable(admin, topics, f"settle-{unique}-group", timeout=30)

    producer = new_producer(infra.bootstrap_servers, "settling-test")
    await producer.start()
    caplog.set_level(logging.DEBUG, logger="aiokafka")
    try:
        for topic in topics:
            for partition in range(6):
                await producer.send_and_wait(topic, b"x", key=b"k", partition=partition)
    finally:
        await producer.stop()
    complaints = [r for r in caplog.records if r.name.startswith("aiokafka") and r.levelno >= logging.WARNING]
    assert not complaints, [r.getMessage() for r in complaints]


async def test_a_topic_that_never_appears_gives_up_at_the_deadline(admin, unique, caplog) -> None:
    caplog.set_level(logging.WARNING)
    assert not await wait_until_usable(admin, [f"never-{unique}"], timeout=0.5)
