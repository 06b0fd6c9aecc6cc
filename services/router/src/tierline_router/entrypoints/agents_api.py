"""The router's agents API: who works the queues, their skills, capacity and availability.

Reading takes ``incidents:read``; changing configuration takes ``admin``. An agent's
availability (on shift / away) may also be set with ``incidents:write``, so people can
sign themselves off without an admin key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tierline_router.domain.model import Agent, Labels
from tierline_router.entrypoints.configuration import PROBLEMS, TAGS, WORK
from tierline_router.service_layer import admin
from tierline_router.service_layer.unit_of_work import RouterUnitOfWork
from tierline_shared.api import Admin, Reader, RuntimeDep, Writer
from tierline_shared.catalog.schemas import catalog_schemas, fields_of, to_domain
from tierline_shared.runtime import Runtime
from tierline_shared.schemas import ApiModel

router = APIRouter(tags=TAGS)


class AgentFields(BaseModel):
    """An agent as the API takes it, but the name."""

    skills: Labels = Field(default_factory=list, description="What the agent knows, e.g. network, vpn")
    capacity: int = Field(default=10, ge=1, le=1000, description="Most open incidents held at once")
    available: bool = Field(default=True, description="On shift (true) or away (false)")


SCHEMAS = catalog_schemas(
    "Agent",
    AgentFields,
    replace=False,
    example={"name": "dave", "skills": ["network", "vpn"], "capacity": 5},
)
if TYPE_CHECKING:  # a model made at import: the checker knows it as the API model it is
    AgentIn = ApiModel
else:
    AgentIn = SCHEMAS.create


class AgentPatch(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"available": False}]})

    skills: list[str] | None = None
    capacity: int | None = Field(default=None, ge=1, le=1000)
    available: bool | None = None

    @field_validator("skills", "capacity", "available", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:  # a field left out keeps its value; null would clear what must stay set
            raise ValueError("must not be null: leave the field out to keep the current value")
        return value


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


def _out(view: admin.AgentView) -> AgentOut:
    return AgentOut(
        name=view.agent.name,
        **fields_of(view.agent, AgentFields),
        open_incidents=view.open_incidents,
        queues=view.queues,
    )


async def _agent_out(uow: RouterUnitOfWork, agent: Agent) -> AgentOut:
    (view,) = await admin.agent_views(uow, [agent.name])
    return _out(view)


async def _change(rt: Runtime, name: str, change: Callable[[Agent], Agent]) -> AgentOut:
    """Update the agent as ``change`` makes it from how it is, in one transaction; its answer."""
    async with WORK.changing(rt) as uow:
        agent = await admin.update_agent(uow, rt.state["deps"], change(await admin.get_agent(uow, name)))
        return await _agent_out(uow, agent)


@router.get(
    "/v1/agents", response_model=list[AgentOut], responses=PROBLEMS, summary="Every agent, with their load"
)
async def list_agents(rt: RuntimeDep, principal: Reader) -> list[AgentOut]:
    async with WORK.reading(rt) as uow:
        return [_out(view) for view in await admin.agent_views(uow)]


@router.post(
    "/v1/agents", response_model=AgentOut, status_code=201, responses=PROBLEMS, summary="Add an agent"
)
async def create_agent(body: AgentIn, rt: RuntimeDep, principal: Admin, response: Response) -> AgentOut:
    async with WORK.changing(rt) as uow:
        agent = await admin.create_agent(uow, rt.state["deps"], to_domain(Agent, body.model_dump()))
        response.headers["Location"] = f"/v1/agents/{agent.name}"
        return await _agent_out(uow, agent)


@router.get("/v1/agents/{name}", response_model=AgentOut, responses=PROBLEMS, summary="One agent")
async def get_agent(name: str, rt: RuntimeDep, principal: Reader) -> AgentOut:
    async with WORK.reading(rt) as uow:
        return await _agent_out(uow, await admin.get_agent(uow, name))


@router.patch(
    "/v1/agents/{name}",
    response_model=AgentOut,
    responses=PROBLEMS,
    summary="Change skills, capacity or availability (away: their incidents are reassigned)",
)
async def patch_agent(name: str, body: AgentPatch, rt: RuntimeDep, principal: Admin) -> AgentOut:
    changes = body.model_dump(exclude_unset=True)
    return await _change(rt, name, lambda current: Agent.model_validate({**current.model_dump(), **changes}))


@router.put(
    "/v1/agents/{name}/availability",
    response_model=AgentOut,
    responses=PROBLEMS,
    summary="Go on shift or away (away: open incidents go to others in the queue, or wait)",
)
async def set_availability(name: str, body: AvailabilityIn, rt: RuntimeDep, principal: Writer) -> AgentOut:
    return await _change(rt, name, lambda current: current.model_copy(update={"available": body.available}))


@router.delete(
    "/v1/agents/{name}", status_code=204, responses=PROBLEMS, summary="Remove an agent who is in no queue"
)
async def delete_agent(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with WORK.changing(rt) as uow:
        await admin.delete_agent(uow, name)
    return Response(status_code=204)
