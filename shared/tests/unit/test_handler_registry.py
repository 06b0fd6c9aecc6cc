"""The one way services bind consumed events to use cases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tierline_shared.events import (
    Envelope,
    IncidentEvent,
    SlaBreached,
    VendorCaseRejected,
    VendorDeliveryFailed,
)
from tierline_shared.messaging.consumer import is_deterministic
from tierline_shared.messaging.handlers import Consumed, Handlers, UnexpectedPayload

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SESSION: Any = object()  # the handlers below never touch the unit of work


def breached() -> SlaBreached:
    return SlaBreached(incident_id=uuid.uuid4(), clock="tier", tier="L1", due_at=NOW, breached_at=NOW)


def rejected() -> VendorCaseRejected:
    return VendorCaseRejected(incident_id=uuid.uuid4(), vendor="acme", case_id=uuid.uuid4(), rejected_at=NOW)


async def test_a_handler_gets_its_typed_payload_the_deps_and_the_envelope() -> None:
    seen: list[tuple[object, str, Envelope]] = []
    handlers: Handlers[str] = Handlers()

    @handlers.handles(SlaBreached)
    async def on_breached(event: SlaBreached, c: Consumed[str]) -> None:
        seen.append((event, c.deps, c.envelope))

    envelope = Envelope(breached(), "/tierline/sla-monitor")
    table = handlers.bind("the deps")
    assert set(table) == {SlaBreached}
    await table[SlaBreached](SESSION, envelope)
    assert seen == [(envelope.data, "the deps", envelope)]


async def test_one_handler_may_take_several_events_named_in_its_annotation() -> None:
    seen: list[str] = []
    handlers: Handlers[None] = Handlers()

    @handlers.handles(VendorCaseRejected, VendorDeliveryFailed)
    async def on_gone(event: VendorCaseRejected | VendorDeliveryFailed, c: Consumed[None]) -> None:
        seen.append(type(event).__name__)

    table = handlers.bind(None)
    assert set(table) == {VendorCaseRejected, VendorDeliveryFailed}
    await table[VendorCaseRejected](SESSION, Envelope(rejected(), "/x"))
    assert seen == ["VendorCaseRejected"]


async def test_before_runs_ahead_of_every_handler_with_the_same_payload() -> None:
    order: list[str] = []

    async def lock(event: IncidentEvent, c: Consumed[None]) -> None:
        order.append(f"lock {event.incident_id}")

    handlers: Handlers[None] = Handlers(before=lock)

    @handlers.handles(SlaBreached)
    async def on_breached(event: SlaBreached, c: Consumed[None]) -> None:
        order.append(f"handle {event.incident_id}")

    event = breached()
    await handlers.bind(None)[SlaBreached](SESSION, Envelope(event, "/x"))
    assert order == [f"lock {event.incident_id}", f"handle {event.incident_id}"]


async def test_a_payload_of_another_class_fails_deterministically_and_is_not_handled() -> None:
    called: list[object] = []
    handlers: Handlers[None] = Handlers()

    @handlers.handles(SlaBreached)
    async def on_breached(event: SlaBreached, c: Consumed[None]) -> None:
        called.append(event)

    with pytest.raises(UnexpectedPayload, match="VendorCaseRejected") as caught:
        await handlers.bind(None)[SlaBreached](SESSION, Envelope(rejected(), "/x"))
    assert is_deterministic(caught.value)  # dead-lettered at once, not retried
    assert called == []


def test_the_annotation_must_name_exactly_the_registered_events() -> None:
    handlers: Handlers[None] = Handlers()
    with pytest.raises(TypeError, match="annotated"):

        @handlers.handles(SlaBreached)
        async def wrong(event: VendorCaseRejected, c: Consumed[None]) -> None: ...

    with pytest.raises(TypeError, match="annotated"):

        @handlers.handles(VendorCaseRejected, VendorDeliveryFailed)
        async def half(event: VendorCaseRejected, c: Consumed[None]) -> None: ...

    with pytest.raises(TypeError, match="annotate its payload"):

        @handlers.handles(SlaBreached)
        async def bare(event, c: Consumed[None]) -> None: ...  # type: ignore[no-untyped-def]

    assert handlers.event_types == frozenset()


def test_an_event_gets_one_handler_only() -> None:
    handlers: Handlers[None] = Handlers()

    @handlers.handles(SlaBreached)
    async def first(event: SlaBreached, c: Consumed[None]) -> None: ...

    with pytest.raises(TypeError, match=r"already has a handler: .*first"):

        @handlers.handles(SlaBreached)
        async def second(event: SlaBreached, c: Consumed[None]) -> None: ...


def test_a_handler_takes_payload_and_consumed_only() -> None:
    handlers: Handlers[None] = Handlers()
    with pytest.raises(TypeError, match="must take"):

        @handlers.handles(SlaBreached)
        async def three(event: SlaBreached, c: Consumed[None], extra: int) -> None: ...


async def test_lock_names_the_advisory_lock_each_event_takes_ahead_of_its_handler() -> None:
    taken: list[str] = []

    class Locking:
        async def execute(self, statement: object) -> None:
            taken.append(str(statement.compile(compile_kwargs={"literal_binds": True})))  # type: ignore[attr-defined]

        @property
        def sync_session(self) -> object:
            return self

        info: dict[str, object] = {}

        def get_nested_transaction(self) -> None:
            return None

    handlers: Handlers[None] = Handlers(lock=lambda event: f"incident:{event.incident_id}")

    @handlers.handles(SlaBreached)
    async def on_breached(event: SlaBreached, c: Consumed[None]) -> None:
        taken.append("handled")

    event = breached()
    await handlers.bind(None)[SlaBreached](Locking(), Envelope(event, "/x"))  # type: ignore[arg-type]
    assert len(taken) == 2 and f"incident:{event.incident_id}" in taken[0] and taken[1] == "handled"
    assert handlers.lock_key(Envelope(event, "/x")) == f"incident:{event.incident_id}"
    assert handlers.lock_key(Envelope(rejected(), "/x")) is None  # not an event handled here
    assert Handlers().lock_key(Envelope(event, "/x")) is None  # a registry that takes no lock
