"""Kafka clients configured the one way Tierline uses them."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.offset import OffsetRequest

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


async def wait_until_usable(
    admin: AIOKafkaAdminClient,
    topics: list[str] | tuple[str, ...],
    group_id: str | None = None,
    *,
    timeout: float = 60.0,
) -> bool:
    """Wait until every partition of ``topics`` has a leader and the group has a coordinator.

    A fresh broker elects leaders for new topics and creates ``__consumer_offsets`` in its
    first seconds; meanwhile the clients retry and log every try as an error or warning
    (GroupCoordinatorNotAvailable, NotLeaderForPartition). Waiting here keeps a normal start
    quiet; past ``timeout`` the clients start anyway and their own retries take over.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    pause = 0.05
    while True:
        try:
            described = await admin.describe_topics(list(topics))
            missing = _leaderless(described) or await _not_serving(admin, described)
            if not missing and group_id:
                await admin.find_coordinator(group_id)
            if not missing:
                return True
            reason = f"no serving leader yet for {', '.join(missing[:3])}"
        except KafkaError as exc:
            reason = f"{type(exc).__name__}"
        if asyncio.get_running_loop().time() > deadline:
            _log.warning("kafka_not_settled", reason=reason, waited_seconds=timeout)
            return False
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


async def _not_serving(admin: AIOKafkaAdminClient, described: list[dict[str, Any]]) -> list[str]:
    """The topics whose leaders do not serve every partition yet.

    The metadata names a leader a moment before that broker has made itself the partition's
    leader; a produce in between fails with NotLeaderForPartition (and the producer logs it).
    Asking each leader for its partitions' end offsets, as a consumer would, tells the two apart.
    """
    asked: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for topic in described:
        for partition in topic["partitions"]:
            by_topic = asked.setdefault(partition["leader"], {})
            by_topic.setdefault(topic["topic"], []).append((partition["partition"], _LATEST))
    pending: set[str] = set()
    for node, by_topic in asked.items():
        # aiokafka's admin has no ListOffsets; its client sends any request to a node
        answer = await admin._client.send(node, OffsetRequest(-1, 0, list(by_topic.items())))
        for name, partitions in answer.topics:
            if any(error_code for _, error_code, *_ in partitions):
                pending.add(name)
    return sorted(pending)


_LATEST = -1  # ListOffsets: the end of the partition


def _leaderless(described: list[dict[str, Any]]) -> list[str]:
    """The topics not yet usable: unknown, or with a partition that has no leader."""

    def settled(topic: dict[str, Any]) -> bool:
        partitions = topic.get("partitions") or []
        return (
            not topic.get("error_code")
            and all(not p.get("error_code") and p.get("leader", -1) >= 0 for p in partitions)
            and bool(partitions)
        )

    return [topic["topic"] for topic in described if not settled(topic)]


async def kafka_is_ready(admin: AIOKafkaAdminClient, timeout: float = 2.0) -> bool:
    """A real metadata request, not a port check."""
    try:
        await asyncio.wait_for(admin.describe_cluster(), timeout)
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
    return True
