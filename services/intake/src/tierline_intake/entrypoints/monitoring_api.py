"""Endpoints monitoring tools already speak: PagerDuty Events API v2 and Alertmanager webhooks.

They authenticate by integration key (the PagerDuty ``routing_key``, the Alertmanager
path key), not by bearer API key, so a tool can point at Tierline unchanged.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from tierline_intake.domain.alerts import alertmanager_signals, pagerduty_signal
from tierline_intake.entrypoints.alertmanager import AlertmanagerWebhook
from tierline_intake.entrypoints.common import deps
from tierline_intake.entrypoints.pagerduty import (
    PagerDutyAccepted,
    PagerDutyEvent,
    PagerDutyInvalidEvent,
    invalid_event_body,
)
from tierline_intake.service_layer import integrations
from tierline_shared.api import RuntimeDep
from tierline_shared.errors import DomainError

router = APIRouter(tags=["monitoring"])


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its local ``$defs`` inlined, so it stands alone inside the OpenAPI document."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _invalid(*errors: str, status: int = 400) -> JSONResponse:
    return JSONResponse(PagerDutyInvalidEvent(errors=list(errors)).model_dump(), status_code=status)


@router.post(
    "/v2/enqueue",
    status_code=202,
    response_model=PagerDutyAccepted,
    responses={
        400: {
            "model": PagerDutyInvalidEvent,
            "description": "Invalid event or unknown routing key (PagerDuty's shape)",
        },
        429: {"description": "Too many events for this integration; see Retry-After"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_refs(PagerDutyEvent.model_json_schema(by_alias=True))}
            },
        }
    },
    summary="PagerDuty Events API v2: trigger, acknowledge or resolve",
)
async def enqueue(request: Request, rt: RuntimeDep) -> JSONResponse:
    try:
        raw = json.loads(await request.body())
    except ValueError:
        return _invalid("Event must be valid JSON")
    try:
        event = PagerDutyEvent.model_validate(raw)
    except ValidationError as exc:
        return JSONResponse(invalid_event_body(exc), status_code=400)
    async with rt.unit_of_work() as session:
        uow = deps(rt).unit_of_work(session)
        try:
            integration = await integrations.integration_for_key(uow, event.routing_key, "pagerduty")
        except DomainError:
            return _invalid("'routing_key' is not the key of an active PagerDuty integration")
        await rt.access.count(f"integration:{integration.id}")
        signal = pagerduty_signal(
            event.as_plain(),
            integration_name=integration.name,
            default_service=integration.service,
            rules=deps(rt).severity_rules,
            new_dedup_key=lambda: uuid.uuid4().hex,
        )
        await integrations.apply_signal(uow, deps(rt), integration, signal)
    return JSONResponse(PagerDutyAccepted(dedup_key=signal.dedup_key).model_dump(), status_code=202)


class AlertmanagerAccepted(BaseModel):
    status: str = "success"
    alerts: int
    incident_ids: list[uuid.UUID]


@router.post(
    "/v1/integrations/alertmanager/{integration_key}",
    response_model=AlertmanagerAccepted,
    responses={
        401: {"description": "Unknown or revoked integration key (problem+json)"},
        422: {"description": "Not an Alertmanager webhook payload (problem+json)"},
        429: {"description": "Too many notifications for this integration; see Retry-After"},
    },
    summary="Alertmanager webhook receiver (payload version 4)",
)
async def alertmanager(
    integration_key: str, payload: AlertmanagerWebhook, rt: RuntimeDep
) -> AlertmanagerAccepted:
    async with rt.unit_of_work() as session:
        uow = deps(rt).unit_of_work(session)
        integration = await integrations.integration_for_key(uow, integration_key, "alertmanager")
        await rt.access.count(f"integration:{integration.id}")
        signals = alertmanager_signals(
            payload.as_plain(),
            integration_name=integration.name,
            default_service=integration.service,
            rules=deps(rt).severity_rules,
        )
        touched = await integrations.apply_signals(uow, deps(rt), integration, list(signals))
    return AlertmanagerAccepted(alerts=len(payload.alerts), incident_ids=touched)
