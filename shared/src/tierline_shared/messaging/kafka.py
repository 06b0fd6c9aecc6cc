"""Kafka clients configured the one way Tierline uses them."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from tierline_shared.events import topics as topic_names
from tierline_shared.logging import get_logger

_log = get_logger(__name__)


def new_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """acks=all with idempotence: a record acknowledged is on every in-sync replica, once."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )


def new_admin(bootstrap_servers: str, client_id: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)


async def ensure_topics(
    admin: AIOKafkaAdminClient,
    names: list[str] | tuple[str, ...],
    *,
    partitions: int,
    replication_factor: int,
) -> None:
    """Create the topics (and their DLQs) this service touches; existing ones are left alone."""
    wanted = set(names) | {topic_names.dlq(n) for n in names if not n.endswith(".dlq")}
    existing = set(await admin.list_topics())
    missing = sorted(wanted - existing)
    if not missing:
        return
    new = [NewTopic(name, partitions, replication_factor) for name in missing]
    response = await admin.create_topics(new)
    for name, code, *rest in response.topic_errors:
        # another replica may have created it first; any other error is real
        if code not in (0, TopicAlreadyExistsError.errno):
            raise RuntimeError(f"could not create topic {name}: error {code} {rest}")
    _log.info("topics_created", topics=missing)


async def kafka_is_ready(admin: AIOKafkaAdminClient, timeout: float = 2.0) -> bool:
    """A real metadata request, not a port check."""
    try:
        await asyncio.wait_for(admin.describe_cluster(), timeout)
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
    return True
