"""What the router's configuration APIs (agents, queues, escalation policies) share."""

from __future__ import annotations

from enum import Enum
from typing import Any

from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.api import KEY_PROBLEMS
from tierline_shared.catalog.routes import Work

TAGS: list[str | Enum] = ["configuration"]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such agent, queue or policy (problem+json)"},
    409: {"description": "The name is taken, it is in use, or the change leaves a gap (problem+json)"},
    422: {"description": "Invalid input, naming the field (problem+json)"},
}
# each request's unit of work over its session, and the deps the changing use cases take
WORK = Work[RouterUnitOfWork, RouterDeps](
    unit_of_work=lambda rt, session: RouterUnitOfWork(session, rt.outbox),
    deps=lambda rt: rt.state["deps"],
)
