"""The router's escalation policies API: matched in rank order, the first whose filters match applies.

Reading takes ``incidents:read``; changing them takes ``admin``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.domain.model import MAX_REPEAT, EscalationPolicy, Labels, Priority, Tier
from tierline_router.entrypoints.configuration import PROBLEMS, TAGS
from tierline_router.service_layer import policies
from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog.routes import CatalogOps, mount
from tierline_shared.catalog.schemas import PLACEMENT, catalog_schemas, to_domain
from tierline_shared.catalog_schemas import rank_warnings_out
from tierline_shared.config_files import Duration
from tierline_shared.runtime import Runtime

router = APIRouter(tags=TAGS)

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


class Step(BaseModel):
    """One rung of an escalation ladder: the tier and how long it may hold the incident."""

    model_config = ConfigDict(extra="forbid")

    tier: Tier
    budget: Duration | None = Field(
        default=None, description="Time before functional escalation; none at L4 (the vendor's contract runs)"
    )


class PolicyFields(BaseModel):
    """An escalation policy as the API takes it, but the name."""

    services: Labels = Field(default_factory=list, description="Empty: any service")
    priorities: list[Priority] = Field(default_factory=list, description="Empty: any priority")
    ladder: list[Step] = Field(min_length=1)
    ack_timeout: Duration | None = Field(
        default=None, description="Unacknowledged this long after assignment: re-notify, then escalate"
    )
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT, description="Re-notifications before escalating")


class StepOut(BaseModel):
    tier: str
    budget_seconds: float | None


class PolicyAnswer(BaseModel):
    name: str
    services: list[str]
    priorities: list[str]
    ladder: list[StepOut]
    ack_timeout_seconds: float | None
    repeat: int


SCHEMAS = catalog_schemas(
    "Policy",
    PolicyFields,
    module=__name__,
    ranked=True,
    example=POLICY_EXAMPLE,
    create_example={**POLICY_EXAMPLE, "rank": 1},
    out=PolicyAnswer,
)
PolicyIn, PolicyReplace, PolicyOut = SCHEMAS.create, SCHEMAS.replace, SCHEMAS.out


def _seconds(step: Any) -> float | None:
    return step.budget.total_seconds() if step.budget is not None else None


def _policy_out(listed: Listed[EscalationPolicy]) -> Any:
    policy = listed.item
    return PolicyOut(
        name=policy.name,
        rank=listed.rank,
        services=policy.services,
        priorities=list(policy.priorities),
        ladder=[StepOut(tier=s.tier, budget_seconds=_seconds(s)) for s in policy.ladder],
        ack_timeout_seconds=policy.ack_timeout.total_seconds() if policy.ack_timeout else None,
        repeat=policy.repeat,
        managed_by=listed.managed_by,
        updated_at=listed.updated_at,
        rank_warnings=rank_warnings_out(listed),
    )


def _policy(body: Any, name: str) -> EscalationPolicy:
    return to_domain(EscalationPolicy, {**body.model_dump(exclude=PLACEMENT), "name": name})


async def _list(rt: Runtime) -> list[Any]:
    async with rt.sessions() as session:
        return [_policy_out(listed) for listed in await policies.list_policies(session)]


async def _create(rt: Runtime, body: Any) -> Any:
    policy = _policy(body, body.name)
    async with rt.unit_of_work() as session:
        return _policy_out(await policies.create_policy(session, rt.state["deps"], policy, body.placement()))


async def _get(rt: Runtime, name: str) -> Any:
    async with rt.sessions() as session:
        return _policy_out(await policies.get_policy(session, name))


async def _replace(rt: Runtime, name: str, body: Any) -> Any:
    policy = _policy(body, name)
    async with rt.unit_of_work() as session:
        return _policy_out(await policies.update_policy(session, rt.state["deps"], policy, body.placement()))


async def _delete(rt: Runtime, name: str) -> None:
    async with rt.unit_of_work() as session:
        await policies.delete_policy(session, rt.state["deps"], name)


mount(
    router,
    "/v1/escalation-policies",
    SCHEMAS,
    CatalogOps(
        list=("list_policies", "Every escalation policy, in matching order", _list),
        create=(
            "create_policy",
            "Add an escalation policy at a rank, before or after another (else last)",
            _create,
        ),
        get=("get_policy", "One policy", _get),
        replace=(
            "replace_policy",
            "Replace a policy, optionally moving it (its incidents take the new ladder from their next move)",
            _replace,
        ),
        delete=(
            "delete_policy",
            "Remove a policy (refused when a priority would be left without one)",
            _delete,
        ),
    ),
    location="/v1/escalation-policies",
    responses=PROBLEMS,
)
