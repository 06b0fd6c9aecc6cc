"""The SLA monitor's policies API: targets per priority, matched in rank order, the first match applies.

Reading takes ``incidents:read``; changing them takes ``admin``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tierline_shared.catalog.resource import Listed
from tierline_shared.catalog.routes import CatalogOps, PerRoute, Work, mount
from tierline_shared.catalog.schemas import catalog_schemas, kept, placed
from tierline_shared.catalog_schemas import Name
from tierline_shared.config_files import Duration
from tierline_sla_monitor.domain.calendar import TWENTY_FOUR_SEVEN
from tierline_sla_monitor.domain.policy import HoldReason, IncidentType, Priority, SlaPolicy
from tierline_sla_monitor.entrypoints.api import PROBLEMS
from tierline_sla_monitor.service_layer import policies
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

router = APIRouter(prefix="/v1/sla", tags=["sla"])
# each request's unit of work over its session; the catalog's changes take the time they are made at
WORK = Work[SlaUnitOfWork, datetime](
    unit_of_work=lambda rt, session: SlaUnitOfWork(session, rt.outbox),
    deps=lambda rt: rt.clock.now(),
)

POLICY_EXAMPLE = {
    "name": "gold-customers-p2",
    "priorities": ["P2"],
    "customers": ["acme-corp"],
    "response": "15m",
    "resolution": "4h",
    "calendar": "24x7",
    "pause_on": ["awaiting_customer"],
    "warnings": [0.5, 0.75, 0.9],
}


def _pause_on_default() -> list[HoldReason]:
    return ["awaiting_customer"]


class PolicyFields(BaseModel):
    """An SLA policy as the API takes it, but the name."""

    priorities: list[Priority] = Field(default_factory=list, description="Empty: any priority")
    types: list[IncidentType] = Field(
        default_factory=list, description="incident, service_request; empty: any type"
    )
    services: list[str] = Field(default_factory=list, description="Empty: any service")
    customers: list[str] = Field(default_factory=list, description="Empty: any customer")
    response: Duration = Field(description="created -> acknowledged")
    resolution: Duration = Field(description="created -> resolved")
    calendar: Name = Field(default=TWENTY_FOUR_SEVEN, description="Which business calendar the clocks run on")
    pause_on: list[HoldReason] = Field(
        default_factory=_pause_on_default,
        description="Hold reasons that pause the resolution clock",
    )
    warnings: list[float] = Field(
        default_factory=lambda: [0.75, 0.9],
        description="Fractions of the target at which sla.warning is sent",
    )


class PolicyAnswer(BaseModel):
    name: str
    priorities: list[str]
    types: list[str]
    services: list[str]
    customers: list[str]
    response_seconds: float
    resolution_seconds: float
    calendar: str
    pause_on: list[str]
    warnings: list[float]


# the routes mount() adds, by verb, and their summaries
SUMMARIES: PerRoute = {
    "list": "Policies, in matching order",
    "create": "Add a policy at a rank, before or after another (else last)",
    "get": "One policy",
    "replace": "Replace a policy, optionally moving it (running clocks keep their targets until "
    "the incident's priority changes)",
    "delete": "Remove a policy",
}
SCHEMAS = catalog_schemas(
    "Policy", PolicyFields, PolicyAnswer, ranked=True, example=POLICY_EXAMPLE, placed_example={"before": "p2"}
)
PolicyIn, PolicyReplace, PolicyOut = SCHEMAS.create, SCHEMAS.replace, SCHEMAS.answer


def _policy_out(listed: Listed[SlaPolicy]) -> Any:
    p = listed.item
    return PolicyOut(
        name=p.name,
        priorities=p.priorities,
        types=p.types,
        services=p.services,
        customers=p.customers,
        response_seconds=p.response.total_seconds(),
        resolution_seconds=p.resolution.total_seconds(),
        calendar=p.calendar,
        pause_on=p.pause_on,
        warnings=p.warnings,
        **kept(listed, PolicyOut),
    )


OPS = CatalogOps(WORK, "policy", policies, SUMMARIES, request=placed(SlaPolicy), answer=_policy_out)
mount(router, "/policies", SCHEMAS, OPS, responses=PROBLEMS)
