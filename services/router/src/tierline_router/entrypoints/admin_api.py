"""The router's configuration API: agents and queues (escalation policies: ``policies_api``).

Reading takes ``incidents:read``; changing configuration takes ``admin``. An agent's
availability (on shift / away) may also be set with ``incidents:write``, so people can
sign themselves off without an admin key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import QueueRow
from tierline_router.domain.model import Agent, Queue, QueueSpec
from tierline_router.service_layer import admin, queues
from tierline_shared import ranking
from tierline_shared.api import KEY_PROBLEMS, Admin, Reader, RuntimeDep, Writer
from tierline_shared.catalog_schemas import (
    PLACEMENT,
    NamePath,
    PlacementIn,
    RankWarningOut,
    rank_warnings_out,
)
from tierline_shared.schemas import ApiModel

router = APIRouter(tags=["configuration"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such agent, queue or policy (problem+json)"},
    409: {"description": "The name is taken, it is in use, or the change leaves a gap (problem+json)"},
    422: {"description": "Invalid input, naming the field (problem+json)"},
}


# --- agents ---------------------------------------------------------------------------------------


class AgentIn(ApiModel, Agent):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "dave", "skills": ["network", "vpn"], "capacity": 5}]},
    )


class AgentPatch(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"available": False}]})

    skills: list[str] | None = None
    capacity: int | None = Field(default=None, ge=1, le=1000)
    available: bool | None = None


class AvailabilityIn(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"available": False}]})
    available: bool


class AgentOut(BaseModel):
    name: str
    skills: list[str]
    capacity: int
    available: bool
    open_incidents: int
    queues: list[str]


async def _agent_out(session: Any, agent: Agent) -> AgentOut:
    catalog = await repo.load_catalog(session)
    held = await repo.loads(session, [agent.name])
    return AgentOut(
        **agent.model_dump(),
        open_incidents=held.get(agent.name, 0),
        queues=[q.name for q in catalog.queues if agent.name in q.agents],
    )


@router.get(
    "/v1/agents", response_model=list[AgentOut], responses=PROBLEMS, summary="Every agent, with their load"
)
async def list_agents(rt: RuntimeDep, principal: Reader) -> list[AgentOut]:
    async with rt.sessions() as session:
        catalog = await repo.load_catalog(session)
        held = await repo.loads(session, list(catalog.agents))
        return [
            AgentOut(
                **a.model_dump(),
                open_incidents=held.get(a.name, 0),
                queues=[q.name for q in catalog.queues if a.name in q.agents],
            )
            for a in sorted(catalog.agents.values(), key=lambda a: a.name)
        ]


@router.post(
    "/v1/agents", response_model=AgentOut, status_code=201, responses=PROBLEMS, summary="Add an agent"
)
async def create_agent(body: AgentIn, rt: RuntimeDep, principal: Admin, response: Response) -> AgentOut:
    async with rt.unit_of_work() as session:
        agent = await admin.create_agent(session, rt.state["deps"], Agent.model_validate(body.model_dump()))
        response.headers["Location"] = f"/v1/agents/{agent.name}"
        return await _agent_out(session, agent)


@router.get("/v1/agents/{name}", response_model=AgentOut, responses=PROBLEMS, summary="One agent")
async def get_agent(name: str, rt: RuntimeDep, principal: Reader) -> AgentOut:
    async with rt.sessions() as session:
        return await _agent_out(session, await admin.get_agent(session, name))


@router.patch(
    "/v1/agents/{name}",
    response_model=AgentOut,
    responses=PROBLEMS,
    summary="Change skills, capacity or availability (away: their incidents are reassigned)",
)
async def patch_agent(name: str, body: AgentPatch, rt: RuntimeDep, principal: Admin) -> AgentOut:
    async with rt.unit_of_work() as session:
        current = await admin.get_agent(session, name)
        changed = Agent.model_validate({**current.model_dump(), **body.model_dump(exclude_unset=True)})
        agent = await admin.update_agent(session, rt.state["deps"], changed)
        return await _agent_out(session, agent)


@router.put(
    "/v1/agents/{name}/availability",
    response_model=AgentOut,
    responses=PROBLEMS,
    summary="Go on shift or away (away: open incidents go to others in the queue, or wait)",
)
async def set_availability(name: str, body: AvailabilityIn, rt: RuntimeDep, principal: Writer) -> AgentOut:
    async with rt.unit_of_work() as session:
        current = await admin.get_agent(session, name)
        changed = current.model_copy(update={"available": body.available})
        agent = await admin.update_agent(session, rt.state["deps"], changed)
        return await _agent_out(session, agent)


@router.delete(
    "/v1/agents/{name}", status_code=204, responses=PROBLEMS, summary="Remove an agent who is in no queue"
)
async def delete_agent(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await admin.delete_agent(session, rt.state["deps"], name)
    return Response(status_code=204)


# --- queues ---------------------------------------------------------------------------------------

QUEUE_EXAMPLE = {
    "name": "network-ops",
    "tier": "L2",
    "strategy": "least_loaded",
    "categories": ["network"],
    "skills": ["network"],
    "agents": ["dave", "erin"],
}


class QueueIn(ApiModel, PlacementIn, Queue):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{**QUEUE_EXAMPLE, "before": "platform"}]}
    )


class QueueReplace(ApiModel, PlacementIn, QueueSpec):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in QUEUE_EXAMPLE.items() if k != "name"}]},
    )


class QueueOut(QueueSpec):
    name: str
    rank: int = Field(description="Position among the tier's queues, 1 tried first")
    held: int = Field(description="Open incidents held by an agent")
    waiting: int = Field(description="Incidents waiting for an agent to be free")
    managed_by: str = Field(description="config (the policy file, re-applied at start) or api")
    updated_at: datetime
    rank_warnings: list[RankWarningOut] = Field(description="About its place in the match order")


def _queue_out(ranked: ranking.Ranked[QueueRow], counts: dict[str, tuple[int, int]]) -> QueueOut:
    row = ranked.item
    held, waiting = counts.get(row.name, (0, 0))
    return QueueOut(
        **repo.queue_of(row).model_dump(),
        rank=row.rank,
        held=held,
        waiting=waiting,
        managed_by=row.managed_by,
        updated_at=row.updated_at,
        rank_warnings=rank_warnings_out(ranked),
    )


@router.get(
    "/v1/queues",
    response_model=list[QueueOut],
    responses=PROBLEMS,
    summary="Every queue, by tier, in matching order",
)
async def list_queues(rt: RuntimeDep, principal: Reader) -> list[QueueOut]:
    async with rt.sessions() as session:
        counts = await repo.queue_counts(session)
        return [_queue_out(ranked, counts) for ranked in await queues.list_queues(session)]


@router.post(
    "/v1/queues",
    response_model=QueueOut,
    status_code=201,
    responses=PROBLEMS,
    summary="Add a queue at a rank, before or after another of its tier (else last)",
)
async def create_queue(body: QueueIn, rt: RuntimeDep, principal: Admin, response: Response) -> QueueOut:
    queue = Queue.model_validate(body.model_dump(exclude=PLACEMENT))
    async with rt.unit_of_work() as session:
        ranked = await queues.create_queue(session, rt.state["deps"], queue, body.placement())
        response.headers["Location"] = f"/v1/queues/{queue.name}"
        return _queue_out(ranked, await repo.queue_counts(session))


@router.get("/v1/queues/{name}", response_model=QueueOut, responses=PROBLEMS, summary="One queue")
async def get_queue(name: str, rt: RuntimeDep, principal: Reader) -> QueueOut:
    async with rt.sessions() as session:
        return _queue_out(await queues.get_queue(session, name), await repo.queue_counts(session))


@router.put(
    "/v1/queues/{name}",
    response_model=QueueOut,
    responses=PROBLEMS,
    summary="Replace a queue, optionally moving it (members taken out hand their incidents to the rest)",
)
async def replace_queue(name: NamePath, body: QueueReplace, rt: RuntimeDep, principal: Admin) -> QueueOut:
    queue = Queue.model_validate({**body.model_dump(exclude=PLACEMENT), "name": name})
    async with rt.unit_of_work() as session:
        ranked = await queues.update_queue(session, rt.state["deps"], queue, body.placement())
        return _queue_out(ranked, await repo.queue_counts(session))


@router.delete(
    "/v1/queues/{name}", status_code=204, responses=PROBLEMS, summary="Remove a queue that holds no incident"
)
async def delete_queue(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await queues.delete_queue(session, rt.state["deps"], name)
    return Response(status_code=204)
