"""The router's queues API: each tier's work queues, matched in rank order within their tier.

Reading takes ``incidents:read``; changing them takes ``admin``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.domain.model import HumanTier, Labels, Priority, Queue, Strategy
from tierline_router.entrypoints.configuration import PROBLEMS, TAGS
from tierline_router.service_layer import queues
from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog.routes import CatalogOps, mount
from tierline_shared.catalog.schemas import PLACEMENT, catalog_schemas, fields_of, to_domain
from tierline_shared.catalog_schemas import rank_warnings_out
from tierline_shared.runtime import Runtime

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


class QueueAnswer(QueueFields):
    name: str
    held: int = Field(description="Open incidents held by an agent")
    waiting: int = Field(description="Incidents waiting for an agent to be free")


SCHEMAS = catalog_schemas(
    "Queue",
    QueueFields,
    module=__name__,
    ranked=True,
    example=QUEUE_EXAMPLE,
    create_example={**QUEUE_EXAMPLE, "before": "platform"},
    out=QueueAnswer,
    out_config=ConfigDict(extra="forbid"),
    rank_description="Position among the tier's queues, 1 tried first",
    managed_by_description="config (the policy file, re-applied at start) or api",
)
QueueIn, QueueReplace, QueueOut = SCHEMAS.create, SCHEMAS.replace, SCHEMAS.out


def _queue_out(listed: Listed[Queue], counts: dict[str, tuple[int, int]]) -> Any:
    queue = listed.item
    held, waiting = counts.get(queue.name, (0, 0))
    return QueueOut(
        **fields_of(queue, QueueFields),
        name=queue.name,
        rank=listed.rank,
        held=held,
        waiting=waiting,
        managed_by=listed.managed_by,
        updated_at=listed.updated_at,
        rank_warnings=rank_warnings_out(listed),
    )


def _queue(body: Any, name: str) -> Queue:
    return to_domain(Queue, {**body.model_dump(exclude=PLACEMENT), "name": name})


async def _list(rt: Runtime) -> list[Any]:
    async with rt.sessions() as session:
        counts = await queues.counts(session)
        return [_queue_out(listed, counts) for listed in await queues.list_queues(session)]


async def _create(rt: Runtime, body: Any) -> Any:
    queue = _queue(body, body.name)
    async with rt.unit_of_work() as session:
        listed = await queues.create_queue(session, rt.state["deps"], queue, body.placement())
        return _queue_out(listed, await queues.counts(session))


async def _get(rt: Runtime, name: str) -> Any:
    async with rt.sessions() as session:
        return _queue_out(await queues.get_queue(session, name), await queues.counts(session))


async def _replace(rt: Runtime, name: str, body: Any) -> Any:
    queue = _queue(body, name)
    async with rt.unit_of_work() as session:
        listed = await queues.update_queue(session, rt.state["deps"], queue, body.placement())
        return _queue_out(listed, await queues.counts(session))


async def _delete(rt: Runtime, name: str) -> None:
    async with rt.unit_of_work() as session:
        await queues.delete_queue(session, rt.state["deps"], name)


mount(
    router,
    "/v1/queues",
    SCHEMAS,
    CatalogOps(
        list=("list_queues", "Every queue, by tier, in matching order", _list),
        create=(
            "create_queue",
            "Add a queue at a rank, before or after another of its tier (else last)",
            _create,
        ),
        get=("get_queue", "One queue", _get),
        replace=(
            "replace_queue",
            "Replace a queue, optionally moving it (members taken out hand their incidents to the rest)",
            _replace,
        ),
        delete=("delete_queue", "Remove a queue that holds no incident", _delete),
    ),
    location="/v1/queues",
    responses=PROBLEMS,
)
