"""The shape every event contract follows, and the registry that finds them by type.

A contract is never edited incompatibly: a breaking change is a new class with a
``.v2`` type plus an upcaster from v1, registered here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """Payload of one event; ``data`` of the CloudEvent. Its subject is also the Kafka key."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[str]

    def subject(self) -> str:
        raise NotImplementedError


class IncidentEvent(Event):
    """An event about one incident: keyed by it, so its events stay ordered."""

    incident_id: uuid.UUID

    def subject(self) -> str:
        return str(self.incident_id)


@dataclass(frozen=True)
class Envelope:
    """An event with its CloudEvents context attributes."""

    data: Event
    source: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def type(self) -> str:
        return self.data.event_type

    @property
    def subject(self) -> str:
        return self.data.subject()

    @property
    def topic(self) -> str:
        return self.data.topic


E = TypeVar("E", bound=type[Event])

_REGISTRY: dict[str, type[Event]] = {}
# type -> function turning an old payload into (newer type, newer payload)
_UPCASTERS: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {}


class UnknownEventType(LookupError):
    pass


def contract(event_type: str, topic: str) -> Callable[[E], E]:
    """Register an event class under its versioned CloudEvents type."""

    def register(cls: E) -> E:
        if event_type in _REGISTRY:
            raise ValueError(f"event type {event_type} registered twice")
        cls.event_type = event_type
        cls.topic = topic
        _REGISTRY[event_type] = cls
        return cls

    return register


def upcaster(
    old_type: str,
) -> Callable[
    [Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]],
    Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
]:
    def register(
        fn: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
    ) -> Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]:
        _UPCASTERS[old_type] = fn
        return fn

    return register


def parse_event(event_type: str, payload: dict[str, Any]) -> Event:
    """Validate a payload as the newest contract its type upcasts to."""
    seen = set()
    while event_type in _UPCASTERS and event_type not in _REGISTRY:
        if event_type in seen:
            raise ValueError(f"upcaster loop at {event_type}")
        seen.add(event_type)
        event_type, payload = _UPCASTERS[event_type](payload)
    cls = _REGISTRY.get(event_type)
    if cls is None:
        raise UnknownEventType(event_type)
    return cls.model_validate(payload)


def registered_types() -> dict[str, type[Event]]:
    return dict(_REGISTRY)
