"""The delivery log: every attempt of every delivery; replays and "retry now"."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from tierline_shared.api import KEY_PROBLEMS, Admin, Reader, RuntimeDep
from tierline_shared.errors import NotFound
from tierline_vendor_gateway.adapters.orm import DeliveryAttemptRow, DeliveryRow
from tierline_vendor_gateway.service_layer import deliveries

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


def _out(row: DeliveryRow, attempts: list[DeliveryAttemptRow]) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        case_id=row.case_id,
        vendor=row.vendor,
        url=row.url,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
    )


async def _with_log(session: Any, rows: list[DeliveryRow]) -> list[DeliveryOut]:
    ids = [r.id for r in rows]
    attempts = (
        await session.scalars(
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.delivery_id.in_(ids))
            .order_by(DeliveryAttemptRow.delivery_id, DeliveryAttemptRow.attempted_at)
        )
    ).all()
    by_delivery: dict[str, list[DeliveryAttemptRow]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return [_out(r, by_delivery.get(r.id, [])) for r in rows]


@router.get(
    "/v1/deliveries", response_model=list[DeliveryOut], responses=PROBLEMS, summary="The delivery log"
)
async def list_deliveries(
    rt: RuntimeDep,
    principal: Reader,
    vendor: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryOut]:
    stmt = select(DeliveryRow).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id).limit(limit)
    if vendor is not None:
        stmt = stmt.where(DeliveryRow.vendor == vendor)
    if status is not None:
        stmt = stmt.where(DeliveryRow.status == status)
    async with rt.sessions() as session:
        return await _with_log(session, list((await session.scalars(stmt)).all()))


@router.get(
    "/v1/deliveries/{delivery_id}", response_model=DeliveryOut, responses=PROBLEMS, summary="One delivery"
)
async def get_delivery(delivery_id: str, rt: RuntimeDep, principal: Reader) -> DeliveryOut:
    async with rt.sessions() as session:
        row = await session.get(DeliveryRow, delivery_id)
        if row is None:
            raise NotFound(f"There is no delivery {delivery_id!r}.")
        [out] = await _with_log(session, [row])
        return out


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    status_code=202,
    responses=PROBLEMS,
    summary="Send a dead (or delivered) message again, same webhook-id, on a fresh retry schedule",
)
async def replay_delivery(delivery_id: str, rt: RuntimeDep, principal: Admin) -> DeliveryOut:
    async with rt.unit_of_work() as session:
        row = await deliveries.replay(session, rt.state["deps"], delivery_id)
        [out] = await _with_log(session, [row])
        return out


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
    async with rt.unit_of_work() as session:
        row = await deliveries.retry_now(session, rt.state["deps"], delivery_id)
        [out] = await _with_log(session, [row])
        return out
