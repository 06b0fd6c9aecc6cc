"""L4 cases as the gateway holds them: one, or a filtered list newest first (keyset pages)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tierline_shared.api import KEY_PROBLEMS, Reader, RuntimeDep
from tierline_shared.errors import InvalidInput
from tierline_shared.schemas import unstorable
from tierline_vendor_gateway.service_layer import queries
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

router = APIRouter(tags=["vendors"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **KEY_PROBLEMS,
    404: {"description": "No such case (problem+json)"},
    422: {"description": "Invalid query, naming the parameter (problem+json)"},
}
CaseStatus = Literal["pending", "open", "acknowledged", "failed", "resolved", "rejected"]


class CaseOut(BaseModel):
    id: uuid.UUID
    incident_id: uuid.UUID
    vendor: str
    status: str
    vendor_reference: str | None
    created_at: datetime
    updated_at: datetime


class CasePageOut(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(
        f"Invalid query parameter {field}.", errors=[{"field": field, "in": "query", "reason": reason}]
    )


def _check_time(field: str, value: datetime | None) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        raise _invalid(field, "needs a time zone offset, e.g. 2026-11-23T09:00:00Z")
    if not 1 < value.year < 9999:
        raise _invalid(field, "must be between the years 2 and 9998")


@router.get("/v1/cases", response_model=CasePageOut, responses=PROBLEMS, summary="L4 cases, newest first")
async def list_cases(
    rt: RuntimeDep,
    principal: Reader,
    vendor: Annotated[str | None, Query(max_length=63)] = None,
    status: Annotated[
        list[CaseStatus] | None,
        Query(description="pending, open, acknowledged, failed, resolved, rejected; repeat for several"),
    ] = None,
    incident_id: Annotated[uuid.UUID | None, Query()] = None,
    created_since: Annotated[
        datetime | None, Query(description="handed off at or after (inclusive, ISO 8601 with offset)")
    ] = None,
    created_until: Annotated[
        datetime | None, Query(description="handed off before (exclusive, ISO 8601 with offset)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=500, description="next_cursor of the previous page")
    ] = None,
) -> CasePageOut:
    _check_time("created_since", created_since)
    _check_time("created_until", created_until)
    for field, text in (("vendor", vendor), ("cursor", cursor)):
        if text is not None and unstorable(text):
            raise _invalid(field, "must not contain NUL characters or lone surrogates")
    flt = queries.CaseFilter(
        vendor=vendor,
        status=status,
        incident_id=incident_id,
        created_since=created_since,
        created_until=created_until,
    )
    deps: GatewayDeps = rt.state["deps"]
    async with rt.sessions() as session:
        rows, next_cursor = await queries.list_cases(
            deps.unit_of_work(session), flt, limit=limit, cursor=cursor
        )
    return CasePageOut(
        items=[CaseOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor
    )


@router.get("/v1/cases/{case_id}", response_model=CaseOut, responses=PROBLEMS, summary="One L4 case")
async def get_case(case_id: uuid.UUID, rt: RuntimeDep, principal: Reader) -> CaseOut:
    deps: GatewayDeps = rt.state["deps"]
    async with rt.sessions() as session:
        case = await queries.get_case(deps.unit_of_work(session), case_id)
    return CaseOut.model_validate(case, from_attributes=True)
