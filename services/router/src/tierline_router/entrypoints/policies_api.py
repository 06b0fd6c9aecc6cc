"""The router's escalation policies API: matched in rank order, the first whose filters match applies.

Reading takes ``incidents:read``; changing them takes ``admin``.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.adapters import repository as repo
from tierline_router.adapters.orm import PolicyRow
from tierline_router.domain.model import EscalationPolicy, PolicySpec, Step
from tierline_router.entrypoints.admin_api import PROBLEMS
from tierline_router.service_layer import policies
from tierline_shared import ranking
from tierline_shared.api import Admin, Reader, RuntimeDep
from tierline_shared.catalog_schemas import (
    PLACEMENT,
    NamePath,
    PlacementIn,
    RankWarningOut,
    rank_warnings_out,
)
from tierline_shared.schemas import ApiModel

router = APIRouter(tags=["configuration"])

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


class PolicyIn(ApiModel, PlacementIn, EscalationPolicy):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{**POLICY_EXAMPLE, "rank": 1}]})


class PolicyReplace(ApiModel, PlacementIn, PolicySpec):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in POLICY_EXAMPLE.items() if k != "name"}]},
    )


class StepOut(BaseModel):
    tier: str
    budget_seconds: float | None


class PolicyOut(BaseModel):
    name: str
    rank: int = Field(description="Position in the match order, 1 tried first")
    services: list[str]
    priorities: list[str]
    ladder: list[StepOut]
    ack_timeout_seconds: float | None
    repeat: int
    managed_by: str
    updated_at: datetime
    rank_warnings: list[RankWarningOut] = Field(description="About its place in the match order")


def _policy_out(ranked: ranking.Ranked[PolicyRow]) -> PolicyOut:
    row = ranked.item
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
        rank_warnings=rank_warnings_out(ranked),
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
        return [_policy_out(ranked) for ranked in await policies.list_policies(session)]


@router.post(
    "/v1/escalation-policies",
    response_model=PolicyOut,
    status_code=201,
    responses=PROBLEMS,
    summary="Add an escalation policy at a rank, before or after another (else last)",
)
async def create_policy(body: PolicyIn, rt: RuntimeDep, principal: Admin, response: Response) -> PolicyOut:
    policy = EscalationPolicy.model_validate(body.model_dump(exclude=PLACEMENT))
    async with rt.unit_of_work() as session:
        ranked = await policies.create_policy(session, rt.state["deps"], policy, body.placement())
        response.headers["Location"] = f"/v1/escalation-policies/{policy.name}"
        return _policy_out(ranked)


@router.get(
    "/v1/escalation-policies/{name}", response_model=PolicyOut, responses=PROBLEMS, summary="One policy"
)
async def get_policy(name: str, rt: RuntimeDep, principal: Reader) -> PolicyOut:
    async with rt.sessions() as session:
        return _policy_out(await policies.get_policy(session, name))


@router.put(
    "/v1/escalation-policies/{name}",
    response_model=PolicyOut,
    responses=PROBLEMS,
    summary="Replace a policy, optionally moving it (its incidents take the new ladder from their next move)",
)
async def replace_policy(name: NamePath, body: PolicyReplace, rt: RuntimeDep, principal: Admin) -> PolicyOut:
    policy = EscalationPolicy.model_validate({**body.model_dump(exclude=PLACEMENT), "name": name})
    async with rt.unit_of_work() as session:
        return _policy_out(await policies.update_policy(session, rt.state["deps"], policy, body.placement()))


@router.delete(
    "/v1/escalation-policies/{name}",
    status_code=204,
    responses=PROBLEMS,
    summary="Remove a policy (refused when a priority would be left without one)",
)
async def delete_policy(name: str, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await policies.delete_policy(session, rt.state["deps"], name)
    return Response(status_code=204)
