"""The delivery log: every attempt of every delivery; replays and "retry now"."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tierline_shared.api import KEY_PROBLEMS, Admin, Reader, RuntimeDep
from tierline_vendor_gateway.domain.webhook import AttemptRecord, Delivery
from tierline_vendor_gateway.service_layer import deliveries, queries
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

router = APIRouter(tags=["deliveries"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such delivery or vendor (problem+json)"},
    409: {
        "description": "Replay: still being attempted. Retry: delivered, or an attempt is in flight. "
        "Either: the vendor's endpoint is disabled (problem+json)"
    },
    422: {"description": "Invalid input (problem+json)"},
}


class AttemptOut(BaseModel):
    attempt: int
    status_code: int | None = Field(description="None when no HTTP answer came (timeout, refused, guard)")
    latency_ms: float
    error: str | None
    response_excerpt: str = Field(description="The start of the vendor's answer (at most 2 KiB)")
    attempted_at: datetime


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id, the same on every attempt and replay")
    case_id: uuid.UUID
    vendor: str
    url: str
    status: str = Field(description="pending, delivered or dead")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    log: list[AttemptOut]


def _out(logged: tuple[Delivery, list[AttemptRecord]]) -> DeliveryOut:
    delivery, attempts = logged
    return DeliveryOut(
        id=delivery.id,
        case_id=delivery.case_id,
        vendor=delivery.vendor,
        url=delivery.url,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )


@router.get(
    "/v1/deliveries", response_model=list[DeliveryOut], responses=PROBLEMS, summary="The delivery log"
)
async def list_deliveries(
    rt: RuntimeDep,
    principal: Reader,
    vendor: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    case_id: Annotated[uuid.UUID | None, Query(description="Only this case's deliveries")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryOut]:
    deps: GatewayDeps = rt.state["deps"]
    async with rt.snapshot() as session:
        found = await queries.list_deliveries(
            deps.unit_of_work(session), vendor=vendor, status=status, limit=limit, case_id=case_id
        )
    return [_out(logged) for logged in found]


@router.get(
    "/v1/deliveries/{delivery_id}", response_model=DeliveryOut, responses=PROBLEMS, summary="One delivery"
)
async def get_delivery(delivery_id: str, rt: RuntimeDep, principal: Reader) -> DeliveryOut:
    deps: GatewayDeps = rt.state["deps"]
    async with rt.snapshot() as session:
        return _out(await queries.get_delivery(deps.unit_of_work(session), delivery_id))


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    status_code=202,
    responses=PROBLEMS,
    summary="Send a dead (or delivered) message again, same webhook-id, on a fresh retry schedule",
)
async def replay_delivery(delivery_id: str, rt: RuntimeDep, principal: Admin) -> DeliveryOut:
    deps: GatewayDeps = rt.state["deps"]
    async with rt.unit_of_work() as session:
        uow = deps.unit_of_work(session)
        [logged] = await queries.with_log(uow, [await deliveries.replay(uow, deps, delivery_id)])
    return _out(logged)


@router.post(
    "/v1/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    status_code=202,
    responses=PROBLEMS,
    summary="Retry now: a pending delivery's next attempt is due at once; a dead one is replayed",
    description="The worker picks the delivery up at its next poll. A pending delivery keeps its attempt "
    "count and schedule (this attempt counts as the next one); a dead one is replayed (same webhook-id, "
    "fresh schedule). 409 for a delivered one (replay it to send it again) and while an attempt is in "
    "flight: it is never sent twice.",
)
async def retry_delivery(delivery_id: str, rt: RuntimeDep, principal: Admin) -> DeliveryOut:
    deps: GatewayDeps = rt.state["deps"]
    async with rt.unit_of_work() as session:
        uow = deps.unit_of_work(session)
        [logged] = await queries.with_log(uow, [await deliveries.retry_now(uow, deps, delivery_id)])
    return _out(logged)
