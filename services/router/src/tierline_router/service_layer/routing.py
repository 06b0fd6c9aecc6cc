"""The routing use cases under one name, for callers that still hold a bare session.

The use cases live by concern — ``placement``, ``lifecycle``, ``escalation``, ``vendor_returns``,
``updates`` — and take a ``RouterUnitOfWork``. The names below take either a unit of work or
the ``AsyncSession`` it would wrap, so the admin code and tests written against a session keep
working until they build the unit of work themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from tierline_router.domain.model import Subject
from tierline_router.service_layer import escalation, lifecycle, placement, updates, vendor_returns
from tierline_router.service_layer.unit_of_work import ROUTING_LOCK, RouterDeps, RouterUnitOfWork
from tierline_shared.db import advisory_xact_lock

__all__ = [
    "ROUTING_LOCK",
    "RouterDeps",
    "RouterUnitOfWork",
    "acknowledge",
    "apply_update",
    "assign_new_incident",
    "de_escalate",
    "escalate",
    "escalate_when_due",
    "fire_ack_timeouts",
    "hand_out_waiting",
    "lock_routing",
    "reactivate",
    "reassign_held",
    "release",
    "return_from_vendor",
    "subject_of",
]

P = ParamSpec("P")
T = TypeVar("T")
Work = AsyncSession | RouterUnitOfWork


def _on_session(
    use_case: Callable[Concatenate[RouterUnitOfWork, RouterDeps, P], Awaitable[T]],
) -> Callable[Concatenate[Work, RouterDeps, P], Awaitable[T]]:
    @functools.wraps(use_case)
    async def run(work: Work, deps: RouterDeps, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await use_case(RouterUnitOfWork.over(work, deps), deps, *args, **kwargs)

    return run


async def lock_routing(work: Work) -> None:
    await advisory_xact_lock(work.session if isinstance(work, RouterUnitOfWork) else work, ROUTING_LOCK)


class _Routed(Protocol):
    service: str
    category: str
    priority: str
    product: str | None


def subject_of(routed: _Routed) -> Subject:
    """What routing looks at on an assignment (or its row)."""
    return Subject.model_validate(
        {
            "service": routed.service,
            "category": routed.category,
            "priority": routed.priority,
            "product": routed.product,
        }
    )


assign_new_incident = _on_session(placement.assign_new_incident)
hand_out_waiting = _on_session(placement.hand_out_waiting)
reassign_held = _on_session(placement.reassign_held)
acknowledge = _on_session(lifecycle.acknowledge)
release = _on_session(lifecycle.release)
reactivate = _on_session(lifecycle.reactivate)
escalate = _on_session(escalation.escalate)
de_escalate = _on_session(escalation.de_escalate)
escalate_when_due = _on_session(escalation.escalate_when_due)
fire_ack_timeouts = _on_session(escalation.fire_ack_timeouts)
return_from_vendor = _on_session(vendor_returns.return_from_vendor)
apply_update = _on_session(updates.apply_update)
