"""The router's configuration API: agents, queues and escalation policies.

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
from tierline_router.adapters.orm import PolicyRow, QueueRow
from tierline_router.domain.model import (
    Agent,
    EscalationPolicy,
    PolicySpec,
    Queue,
    QueueSpec,
    Step,
)
from tierline_router.service_layer import admin
from tierline_shared.api import KEY_PROBLEMS, Admin, Reader, RuntimeDep, Writer
from tierline_shared.schemas import ApiModel

router = APIRouter(tags=["configuration"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such agent, queue or policy (problem+json)"},
    409: {"description": "The name is taken, it is in use, or the change leaves a gap (problem+json)"},
    422: {"description": "Invalid input, naming the field (problem+json)"},
}
Rank = Field(default=None, ge=0, le=1_000_000, description="Matching order (lower first); default: last")


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


class QueueIn(ApiModel, Queue):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [QUEUE_EXAMPLE]})
    rank: int | None = Rank


class QueueReplace(ApiModel, QueueSpec):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in QUEUE_EXAMPLE.items() if k != "name"}]},
    )
    rank: int | None = Rank


class QueueOut(QueueSpec):
    name: str
    rank: int
    held: int = Field(description="Open incidents held by an agent")
    waiting: int = Field(description="Incidents waiting for an agent to be free")
    managed_by: str = Field(description="config (the policy file, re-applied at start) or api")
    updated_at: datetime


def _queue_out(row: QueueRow, counts: dict[str, tuple[int, int]]) -> QueueOut:
    held, waiting = counts.get(row.name, (0, 0))
    return QueueOut(
        **repo.queue_of(row).model_dump(),
        rank=row.rank,
        held=held,
        waiting=waiting,
        managed_by=row.managed_by,
        updated_at=row.updated_at,
    )


@router.get("/v1/queues", response_model=list[QueueOut], responses=PROBLEMS, summary="Every queue, by tier")
async def list_queues(rt: RuntimeDep, principal: Reader) -> list[QueueOut]:
    async with rt.sessions() as session:
        counts = await repo.queue_counts(session)
        return [_queue_out(row, counts) for row in await admin.list_queues(session)]


@router.post(
    "/v1/queues", response_model=QueueOut, status_code=201, responses=PROBLEMS, summary="Add a queue"
)
async def create_queue(body: QueueIn, rt: RuntimeDep, principal: Admin, response: Response) -> QueueOut:
    async with rt.unit_of_work() as session:
        queue = Queue.model_validate(body.model_dump(exclude={"rank"}))
        row = await admin.create_queue(session, rt.state["deps"], queue, body.rank)
        response.headers["Location"] = f"/v1/queues/{row.name}"
        return _queue_out(row, await repo.queue_counts(session))


@router.get("/v1/queues/{name}", response_model=QueueOut, responses=PROBLEMS, summary="One queue")
async def get_queue(name: str, rt: RuntimeDep, principal: Reader) -> QueueOut:
    async with rt.sessions() as session:
        return _queue_out(await admin.get_queue(session, name), await repo.queue_counts(session))


@router.put(
    "/v1/queues/{name}",
    response_model=QueueOut,
    responses=PROBLEMS,
    summary="Replace a queue (members taken out hand their incidents to the rest)",
)
async def replace_queue(name: str, body: QueueReplace, rt: RuntimeDep, principal: Admin) -> QueueOut:
    async with rt.unit_of_work() as session:
        queue = Queue.model_validate({**body.model_dump(exclude={"rank"}), "name": name})
        row = await admin.update_queue(session, rt.state["deps"], queue, body.rank)
        return _queue_out(row, await repo.queue_counts(session))


@router.delete(
    "/v1/queues/{name}", status_code=204, responses=PROBLEMS, summary="Remove a queue that holds no incident"
)
async def delete_queue(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await admin.delete_queue(session, rt.state["deps"], name)
    return Response(status_code=204)


# --- escalation policies --------------------------------------------------------------------------

POLICY_EXAMPLE = {
    "name": "p1-major",
    "priorities": ["P1"],
    "ladder": [
        {"tier": "L1", "budget": "15m"},
        {"tier": "L2", "budget": "1h"},
        {"tier": "L3", "budget": "2h"},
        {"tier": "L4"},
    ],
    "ack_timeout": "5m",
    "repeat": 2,
}


class PolicyIn(ApiModel, EscalationPolicy):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [POLICY_EXAMPLE]})
    rank: int | None = Rank


class PolicyReplace(ApiModel, PolicySpec):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in POLICY_EXAMPLE.items() if k != "name"}]},
    )
    rank: int | None = Rank


class StepOut(BaseModel):
    tier: str
    budget_seconds: float | None


class PolicyOut(BaseModel):
    name: str
    rank: int
    services: list[str]
    priorities: list[str]
    ladder: list[StepOut]
    ack_timeout_seconds: float | None
    repeat: int
    managed_by: str
    updated_at: datetime


def _policy_out(row: PolicyRow) -> PolicyOut:
    policy = repo.policy_of(row)
    return PolicyOut(
        name=policy.name,
        rank=row.rank,
        services=policy.services,
        priorities=list(policy.priorities),
        ladder=[StepOut(tier=s.tier, budget_seconds=_seconds(s)) for s in policy.ladder],
        ack_timeout_seconds=policy.ack_timeout.total_seconds() if policy.ack_timeout else None,
        repeat=policy.repeat,
        managed_by=row.managed_by,
        updated_at=row.updated_at,
    )


def _seconds(step: Step) -> float | None:
    return step.budget.total_seconds() if step.budget is not None else None


@router.get(
    "/v1/escalation-policies",
    response_model=list[PolicyOut],
    responses=PROBLEMS,
    summary="Every escalation policy, in matching order",
)
async def list_policies(rt: RuntimeDep, principal: Reader) -> list[PolicyOut]:
    async with rt.sessions() as session:
        return [_policy_out(row) for row in await admin.list_policies(session)]


@router.post(
    "/v1/escalation-policies",
    response_model=PolicyOut,
    status_code=201,
    responses=PROBLEMS,
    summary="Add an escalation policy",
)
async def create_policy(body: PolicyIn, rt: RuntimeDep, principal: Admin, response: Response) -> PolicyOut:
    async with rt.unit_of_work() as session:
        policy = EscalationPolicy.model_validate(body.model_dump(exclude={"rank"}))
        row = await admin.create_policy(session, rt.state["deps"], policy, body.rank)
        response.headers["Location"] = f"/v1/escalation-policies/{row.name}"
        return _policy_out(row)


@router.get(
    "/v1/escalation-policies/{name}", response_model=PolicyOut, responses=PROBLEMS, summary="One policy"
)
async def get_policy(name: str, rt: RuntimeDep, principal: Reader) -> PolicyOut:
    async with rt.sessions() as session:
        return _policy_out(await admin.get_policy(session, name))


@router.put(
    "/v1/escalation-policies/{name}",
    response_model=PolicyOut,
    responses=PROBLEMS,
    summary="Replace a policy (incidents on it follow the new ladder from their next move)",
)
async def replace_policy(name: str, body: PolicyReplace, rt: RuntimeDep, principal: Admin) -> PolicyOut:
    async with rt.unit_of_work() as session:
        policy = EscalationPolicy.model_validate({**body.model_dump(exclude={"rank"}), "name": name})
        return _policy_out(await admin.update_policy(session, rt.state["deps"], policy, body.rank))


@router.delete(
    "/v1/escalation-policies/{name}",
    status_code=204,
    responses=PROBLEMS,
    summary="Remove a policy (refused when a priority would be left without one)",
)
async def delete_policy(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await admin.delete_policy(session, rt.state["deps"], name)
    return Response(status_code=204)
