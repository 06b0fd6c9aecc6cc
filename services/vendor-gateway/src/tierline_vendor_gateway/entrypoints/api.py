"""Vendors' signed callbacks about their cases."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierline_shared.api import RuntimeDep
from tierline_shared.errors import UnsupportedMediaType
from tierline_shared.schemas import ApiModel
from tierline_vendor_gateway.service_layer import callbacks
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

router = APIRouter(tags=["vendors"])


class CallbackIn(ApiModel):
    """What a vendor sends back about a case (signed with its callback secret)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "case_id": "0b7e9f5c-2d4a-4f0e-9a51-3c8e2b1d6f40",
                    "action": "resolved",
                    "reference": "ACME-4711",
                    "resolution": "Replaced the line card",
                }
            ]
        },
    )

    case_id: uuid.UUID
    action: Literal["acknowledged", "updated", "resolved", "rejected"]
    reference: str | None = Field(default=None, max_length=200, description="The vendor's own ticket id")
    status: str | None = Field(default=None, max_length=80)
    note: str | None = Field(default=None, max_length=5000)
    resolution: str | None = Field(default=None, max_length=5000)


class CallbackOut(BaseModel):
    status: Literal["accepted", "duplicate"]


@router.post(
    "/v1/vendors/{vendor}/callbacks",
    response_model=CallbackOut,
    status_code=202,
    summary="A vendor's signed callback about a case",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CallbackIn.model_json_schema()}},
        }
    },
    responses={
        401: {"description": "Missing, stale or wrong signature (problem+json)"},
        404: {"description": "Unknown vendor or case (problem+json)"},
        409: {"description": "Case already resolved (problem+json)"},
        422: {"description": "Invalid body (problem+json)"},
    },
)
async def callback(vendor: str, request: Request, rt: RuntimeDep) -> CallbackOut:
    deps: GatewayDeps = rt.state["deps"]
    async with rt.sessions() as session:
        secrets = await callbacks.callback_secrets(deps.unit_of_work(session), vendor)
    body = await request.body()
    callbacks.verify(secrets, body, dict(request.headers))
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send the callback as application/json, not {media_type or 'without a Content-Type'}.",
            errors=[{"field": "body", "reason": "Content-Type must be application/json"}],
        )
    try:
        payload = CallbackIn.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc
    async with rt.unit_of_work() as session:
        fresh = await callbacks.apply_callback(
            deps.unit_of_work(session),
            deps,
            vendor,
            request.headers["webhook-id"],
            callbacks.Callback(**payload.model_dump()),
        )
    return CallbackOut(status="accepted" if fresh else "duplicate")
