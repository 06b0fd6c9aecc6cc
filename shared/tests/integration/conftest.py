"""Fixtures of the shared package's integration tests (helpers without fixtures: messaging_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from tierline_shared.messaging.kafka import new_producer


@pytest.fixture
async def producer(infra) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer on the test Kafka (the one the consumers dead-letter with)."""
    producer = new_producer(infra.bootstrap_servers, "test-shared-integration")
    await producer.start()
    yield producer
    await producer.stop()
