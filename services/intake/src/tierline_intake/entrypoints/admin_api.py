"""Intake's admin API: API keys and monitoring integrations (admin scope)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from tierline_intake.entrypoints.admin_schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    IntegrationCreatedOut,
    IntegrationIn,
    IntegrationOut,
    KeyHolderOut,
)
from tierline_intake.entrypoints.common import AUTH_PROBLEMS, deps
from tierline_intake.service_layer import access, integrations
from tierline_shared.api import Admin, Reader, RuntimeDep

router = APIRouter(tags=["admin"])
PROBLEMS = {
    **AUTH_PROBLEMS,
    404: {"description": "Not found (problem+json)"},
    422: {"description": "Invalid input"},
}


@router.post(
    "/v1/api-keys",
    status_code=201,
    response_model=ApiKeyCreatedOut,
    responses=PROBLEMS,
    summary="Issue an API key",
)
async def create_api_key(body: ApiKeyIn, rt: RuntimeDep, principal: Admin) -> ApiKeyCreatedOut:
    scopes = sorted(set(body.scopes))
    async with rt.unit_of_work() as session:
        issued = await access.issue_key(
            deps(rt).unit_of_work(session), deps(rt), name=body.name, scopes=scopes, person=body.person
        )
    return ApiKeyCreatedOut(
        id=issued.id,
        name=issued.name,
        scopes=list(issued.scopes),
        person=issued.person,
        key=issued.key,
        created_at=rt.clock.now(),
    )


@router.get(
    "/v1/api-keys", response_model=list[ApiKeyOut], responses=PROBLEMS, summary="API keys (never the keys)"
)
async def list_api_keys(rt: RuntimeDep, principal: Admin) -> list[ApiKeyOut]:
    async with rt.sessions() as session:
        rows = await access.list_keys(deps(rt).unit_of_work(session))
    return [
        ApiKeyOut(
            id=r.id,
            name=r.name,
            scopes=r.scopes,
            person=r.person,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


@router.get(
    "/v1/access/me",
    response_model=KeyHolderOut,
    responses=AUTH_PROBLEMS,
    tags=["access"],
    summary="Who the calling key is (any valid key)",
)
async def who_am_i(rt: RuntimeDep, principal: Reader) -> KeyHolderOut:
    async with rt.sessions() as session:
        holder = await access.holder(deps(rt).unit_of_work(session), principal)
    return KeyHolderOut(id=holder.id, name=holder.name, scopes=holder.scopes, person=holder.person)


@router.delete(
    "/v1/api-keys/{key_id}", status_code=204, responses=PROBLEMS, summary="Revoke an API key everywhere"
)
async def revoke_api_key(key_id: uuid.UUID, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await access.revoke_key(deps(rt).unit_of_work(session), deps(rt), key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _endpoint(request: Request, row: integrations.Integration) -> str:
    base = str(request.base_url).rstrip("/")
    if row.type == "pagerduty":
        return f"{base}/v2/enqueue"
    return f"{base}/v1/integrations/alertmanager/<key>"


def _out(request: Request, row: integrations.Integration) -> IntegrationOut:
    return IntegrationOut(
        id=row.id,
        type=row.type,
        name=row.name,
        service=row.service,
        key_hint=row.key_hint,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        endpoint=_endpoint(request, row),
    )


@router.post(
    "/v1/integrations",
    status_code=201,
    response_model=IntegrationCreatedOut,
    responses=PROBLEMS,
    summary="Create a PagerDuty Events v2 or Alertmanager integration",
)
async def create_integration(
    body: IntegrationIn, request: Request, rt: RuntimeDep, principal: Admin
) -> IntegrationCreatedOut:
    async with rt.unit_of_work() as session:
        row, key = await integrations.create_integration(
            deps(rt).unit_of_work(session), deps(rt), type_=body.type, name=body.name, service=body.service
        )
    out = _out(request, row).model_dump()
    if row.type == "alertmanager":
        out["endpoint"] = out["endpoint"].replace("<key>", key)
    return IntegrationCreatedOut(**out, key=key)


@router.get(
    "/v1/integrations", response_model=list[IntegrationOut], responses=PROBLEMS, summary="Integrations"
)
async def list_integrations(request: Request, rt: RuntimeDep, principal: Admin) -> list[IntegrationOut]:
    async with rt.sessions() as session:
        rows = await integrations.list_integrations(deps(rt).unit_of_work(session))
    return [_out(request, r) for r in rows]


@router.delete(
    "/v1/integrations/{integration_id}", status_code=204, responses=PROBLEMS, summary="Revoke an integration"
)
async def revoke_integration(integration_id: uuid.UUID, rt: RuntimeDep, principal: Admin) -> Response:
    async with rt.unit_of_work() as session:
        await integrations.revoke_integration(deps(rt).unit_of_work(session), deps(rt), integration_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
