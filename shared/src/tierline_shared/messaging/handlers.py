"""One way to bind consumed events to use cases: ``@handlers.handles(IncidentCreated)``.

A handler receives the payload, typed as the event it is registered for, and a
:class:`Consumed` holding the consumer's unit of work, the service's dependencies and the
envelope. The payload's annotation must name exactly the registered events, so a handler
can never be wired to a payload it does not declare; a record whose payload is not the
registered class fails deterministically (dead-lettered) instead of tripping an ``assert``.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.db import advisory_xact_lock
from tierline_shared.errors import DomainError
from tierline_shared.events.base import Envelope, Event
from tierline_shared.messaging.consumer import Handler

D = TypeVar("D")
E = TypeVar("E", bound=Event)
F = TypeVar("F", bound=Callable[..., Awaitable[None]])


@dataclass(frozen=True, slots=True)
class Consumed(Generic[D]):
    """What a handler gets besides the payload."""

    session: AsyncSession
    deps: D
    envelope: Envelope


class UnexpectedPayload(DomainError):
    """A record decoded to another class than its handler declares: it will never apply."""

    status = 422
    type_slug = "unexpected-payload"
    title = "The event's payload is not what its handler takes"


Before = Callable[[Any, "Consumed[D]"], Awaitable[None]]


class Handlers(Generic[D]):
    """The events one service consumes and the use case each one drives.

    ``before`` runs ahead of every handler inside the same unit of work. ``lock`` names the
    advisory lock each event takes first (e.g. its incident, so one incident's events arriving
    on several topics apply one at a time); the consumer takes a whole batch's locks up front
    with ``lock_key``, in one statement.
    """

    def __init__(self, *, before: Before[D] | None = None, lock: Callable[[Any], str] | None = None) -> None:
        self._before = before
        self._lock = lock
        self._bound: dict[type[Event], tuple[tuple[type[Event], ...], Callable[..., Awaitable[None]]]] = {}

    @overload
    def handles(
        self, event_type: type[E], /
    ) -> Callable[
        [Callable[[E, Consumed[D]], Awaitable[None]]], Callable[[E, Consumed[D]], Awaitable[None]]
    ]: ...

    @overload
    def handles(self, first: type[Event], second: type[Event], /, *more: type[Event]) -> Callable[[F], F]: ...

    def handles(self, *event_types: type[Event]) -> Callable[[Any], Any]:
        if not event_types:
            raise TypeError("handles() needs at least one event type")

        def register(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
            declared = _payload_types(fn)
            if declared != set(event_types):
                names = sorted(t.__name__ for t in event_types)
                raise TypeError(
                    f"{fn.__qualname__} is registered for {names} but its payload is annotated "
                    f"{sorted(t.__name__ for t in declared)}"
                )
            for event_type in event_types:
                if event_type in self._bound:
                    taken = self._bound[event_type][1].__qualname__
                    raise TypeError(f"{event_type.__name__} already has a handler: {taken}")
                self._bound[event_type] = (event_types, fn)
            return fn

        return register

    @property
    def event_types(self) -> frozenset[type[Event]]:
        return frozenset(self._bound)

    def lock_key(self, envelope: Envelope) -> str | None:
        """The advisory lock the handler of ``envelope`` takes; None if it takes none."""
        payload = envelope.data
        if self._lock is None or type(payload) not in self._bound:
            return None
        return self._lock(payload)

    def bind(self, deps: D) -> dict[type[Event], Handler]:
        """The consumer's table: each event type to a handler closed over this service's deps."""
        return {
            event_type: self._bind_one(deps, accepted, fn)
            for event_type, (accepted, fn) in self._bound.items()
        }

    def _bind_one(
        self, deps: D, accepted: tuple[type[Event], ...], fn: Callable[..., Awaitable[None]]
    ) -> Handler:
        before, lock = self._before, self._lock

        async def handle(session: AsyncSession, envelope: Envelope) -> None:
            payload = envelope.data
            if not isinstance(payload, accepted):
                raise UnexpectedPayload(
                    f"{envelope.type} decoded to {type(payload).__name__}; "
                    f"{fn.__qualname__} takes {', '.join(t.__name__ for t in accepted)}"
                )
            consumed = Consumed(session=session, deps=deps, envelope=envelope)
            if lock is not None:
                await advisory_xact_lock(session, lock(payload))
            if before is not None:
                await before(payload, consumed)
            await fn(payload, consumed)

        handle.__qualname__ = fn.__qualname__
        return handle


def _payload_types(fn: Callable[..., Any]) -> set[type[Event]]:
    """The event classes a handler's first parameter is annotated with."""
    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 2:
        raise TypeError(f"{fn.__qualname__} must take (payload, consumed), not {len(params)} parameters")
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:  # an annotation imported only for type checkers
        raise TypeError(f"{fn.__qualname__}: import the payload's event class at runtime ({exc})") from exc
    annotation = hints.get(params[0].name)
    if annotation is None:
        raise TypeError(f"{fn.__qualname__} must annotate its payload with the event class(es) it takes")
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    if not all(isinstance(m, type) and issubclass(m, Event) for m in members):
        raise TypeError(f"{fn.__qualname__}: the payload annotation {annotation!r} is not an event class")
    return set(members)


def _is_union(annotation: Any) -> bool:
    return isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
