"""The router's escalation policies API: matched in rank order, the first whose filters match applies.

Reading takes ``incidents:read``; changing them takes ``admin``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tierline_router.domain.model import MAX_REPEAT, EscalationPolicy, Labels, Priority, Tier
from tierline_router.entrypoints.configuration import PROBLEMS, TAGS, WORK
from tierline_router.service_layer import policies
from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog.routes import CatalogOps, PerRoute, mount
from tierline_shared.catalog.schemas import catalog_schemas, kept, placed
from tierline_shared.config_files import Duration

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


# the routes mount() adds, by verb, and their summaries
SUMMARIES: PerRoute = {
    "list": "Every escalation policy, in matching order",
    "create": "Add an escalation policy at a rank, before or after another (else last)",
    "get": "One policy",
    "replace": "Replace a policy, optionally moving it (its incidents take the new ladder from "
    "their next move)",
    "delete": "Remove a policy (refused when a priority would be left without one)",
}
SCHEMAS = catalog_schemas(
    "Policy", PolicyFields, PolicyAnswer, ranked=True, example=POLICY_EXAMPLE, placed_example={"rank": 1}
)
PolicyIn, PolicyReplace, PolicyOut = SCHEMAS.create, SCHEMAS.replace, SCHEMAS.answer


def _seconds(step: Any) -> float | None:
    return step.budget.total_seconds() if step.budget is not None else None


def _policy_out(listed: Listed[EscalationPolicy]) -> Any:
    policy = listed.item
    return PolicyOut(
        name=policy.name,
        services=policy.services,
        priorities=list(policy.priorities),
        ladder=[StepOut(tier=s.tier, budget_seconds=_seconds(s)) for s in policy.ladder],
        ack_timeout_seconds=policy.ack_timeout.total_seconds() if policy.ack_timeout else None,
        repeat=policy.repeat,
        **kept(listed, PolicyOut),
    )


OPS = CatalogOps(WORK, "policy", policies, SUMMARIES, request=placed(EscalationPolicy), answer=_policy_out)
mount(router, "/v1/escalation-policies", SCHEMAS, OPS, responses=PROBLEMS)
