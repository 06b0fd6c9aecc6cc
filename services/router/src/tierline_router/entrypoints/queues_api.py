"""The router's queues API: each tier's work queues, matched in rank order within their tier.

Reading takes ``incidents:read``; changing them takes ``admin``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.domain.model import Handover, HumanTier, Labels, Name, Priority, Queue, Strategy
from tierline_router.entrypoints.configuration import PROBLEMS, TAGS, WORK
from tierline_router.service_layer import queues
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog.routes import CatalogOps, PerRoute, mount
from tierline_shared.catalog.schemas import catalog_schemas, fields_of, kept, placed

router = APIRouter(tags=TAGS)

QUEUE_EXAMPLE = {
    "name": "network-ops",
    "tier": "L2",
    "strategy": "least_loaded",
    "categories": ["network"],
    "skills": ["network"],
    "agents": ["dave", "erin"],
}


class QueueFields(BaseModel):
    """A queue as the API takes it, but the name."""

    tier: HumanTier
    strategy: Strategy = "round_robin"
    services: Labels = Field(default_factory=list, description="Empty: any service")
    categories: Labels = Field(default_factory=list, description="Empty: any category")
    products: Labels = Field(default_factory=list, description="Empty: any product")
    priorities: list[Priority] = Field(default_factory=list, description="Empty: any priority")
    skills: Labels = Field(default_factory=list, description="Only agents holding all of these take work")
    agents: list[str] = Field(default_factory=list, description="Members, in round-robin order")
    schedule: Name | None = Field(
        default=None, description="On-call schedule: only its member on call now takes work (none: all)"
    )
    handover: Handover = Field(
        default="keep",
        description="At a shift change, incidents held by the outgoing person stay (keep) or move (reassign)",
    )


class QueueAnswer(QueueFields):
    name: str
    held: int = Field(description="Open incidents held by an agent")
    waiting: int = Field(description="Incidents waiting for an agent to be free")


# the routes mount() adds, by verb, and their summaries
SUMMARIES: PerRoute = {
    "list": "Every queue, by tier, in matching order",
    "create": "Add a queue at a rank, before or after another of its tier (else last)",
    "get": "One queue",
    "replace": "Replace a queue, optionally moving it (members taken out hand their incidents to the rest)",
    "delete": "Remove a queue that holds no incident",
}
SCHEMAS = catalog_schemas(
    "Queue",
    QueueFields,
    QueueAnswer,
    ranked=True,
    example=QUEUE_EXAMPLE,
    placed_example={"before": "platform"},
    out_config=ConfigDict(extra="forbid"),
    rank_description="Position among the tier's queues, 1 tried first",
    managed_by_description="config (the policy file, re-applied at start) or api",
)
QueueIn, QueueReplace, QueueOut = SCHEMAS.create, SCHEMAS.replace, SCHEMAS.answer


def _queue_out(listed: Listed[Queue], counts: dict[str, tuple[int, int]]) -> Any:
    queue = listed.item
    held, waiting = counts.get(queue.name, (0, 0))
    return QueueOut(
        **fields_of(queue, QueueFields), name=queue.name, held=held, waiting=waiting, **kept(listed, QueueOut)
    )


async def _answers(uow: RouterUnitOfWork) -> Callable[[Listed[Queue]], Any]:
    counts = await queues.counts(uow)  # read once per request, in its transaction
    return lambda listed: _queue_out(listed, counts)


OPS = CatalogOps(WORK, "queue", queues, SUMMARIES, request=placed(Queue), answers=_answers)
mount(router, "/v1/queues", SCHEMAS, OPS, responses=PROBLEMS)
