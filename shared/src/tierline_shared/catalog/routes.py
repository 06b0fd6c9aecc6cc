"""The standard routes of a catalog resource: list, create, get, replace and delete.

``mount`` adds them to a router with the resource's schemas, paths, summaries, scopes and the
functions that do the work (``CatalogOps``); each operation keeps the name it is known by in the
OpenAPI document (``list_queues``: operation id ``list_queues_v1_queues_get``). Reading takes
the read scope, changing the admin scope; a created entry's address is in ``Location``.

No ``from __future__ import annotations`` here: the endpoints' annotations are the resource's
own models, which FastAPI reads from the functions as they are made.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Response

from tierline_shared.api import Admin, Reader, RuntimeDep
from tierline_shared.catalog.schemas import CatalogSchemas
from tierline_shared.catalog_schemas import NamePath
from tierline_shared.runtime import Runtime

# what each route calls: ``list(rt)``, ``create(rt, body)``, ``get(rt, name)``,
# ``replace(rt, name, body)``, ``delete(rt, name)``; each opens its own session or unit of work
ListOp = Callable[[Runtime], Awaitable[Any]]
CreateOp = Callable[[Runtime, Any], Awaitable[Any]]
GetOp = Callable[[Runtime, str], Awaitable[Any]]
ReplaceOp = Callable[[Runtime, str, Any], Awaitable[Any]]
DeleteOp = Callable[[Runtime, str], Awaitable[None]]


@dataclass(frozen=True)
class CatalogOps:
    """A resource's routes: each an operation name, summary and the function doing the work."""

    list: tuple[str, str, ListOp] | None = None
    create: tuple[str, str, CreateOp] | None = None
    get: tuple[str, str, GetOp] | None = None
    replace: tuple[str, str, ReplaceOp] | None = None
    delete: tuple[str, str, DeleteOp] | None = None
    # the path's name as replace takes it: validated (NamePath, a 422 naming it) or any text
    replace_name: Any = NamePath
    # what create answers, when not the resource's Out (e.g. with warnings about what it took)
    create_out: Any = None
    # longer descriptions of operations, by operation name
    descriptions: dict[str, str] = field(default_factory=dict)


def mount(
    router: APIRouter,
    path: str,
    schemas: CatalogSchemas,
    ops: CatalogOps,
    *,
    location: str,
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """Add ``ops``' routes at ``path`` and ``path/{name}``; ``location``: the collection's full path."""
    out = schemas.out
    if ops.list is not None:
        _list(router, path, out, ops.list, responses)
    if ops.create is not None:
        create_out = ops.create_out or out
        description = ops.descriptions.get(ops.create[0])
        _create(router, path, schemas.create, create_out, ops.create, location, responses, description)
    if ops.get is not None:
        _get(router, path, out, ops.get, responses)
    if ops.replace is not None:
        _replace(router, path, schemas, ops.replace, ops.replace_name, responses)
    if ops.delete is not None:
        _delete(router, path, ops.delete, responses)


def _list(router: APIRouter, path: str, out: Any, op: tuple[str, str, ListOp], responses: Any) -> None:
    name, summary, call = op

    async def endpoint(rt: RuntimeDep, principal: Reader) -> Any:
        return await call(rt)

    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        name=name,
        summary=summary,
        response_model=list[out],
        responses=responses,
    )


def _create(
    router: APIRouter,
    path: str,
    body_model: Any,
    out: Any,
    op: tuple[str, str, CreateOp],
    location: str,
    responses: Any,
    description: str | None,
) -> None:
    name, summary, call = op

    async def endpoint(body: body_model, rt: RuntimeDep, principal: Admin, response: Response) -> Any:  # type: ignore[valid-type]
        answer = await call(rt, body)
        response.headers["Location"] = f"{location}/{body.name}"
        return answer

    router.add_api_route(
        path,
        endpoint,
        methods=["POST"],
        name=name,
        summary=summary,
        description=description,
        response_model=out,
        status_code=201,
        responses=responses,
    )


def _get(router: APIRouter, path: str, out: Any, op: tuple[str, str, GetOp], responses: Any) -> None:
    operation, summary, call = op

    async def endpoint(name: str, rt: RuntimeDep, principal: Reader) -> Any:
        return await call(rt, name)

    router.add_api_route(
        f"{path}/{{name}}",
        endpoint,
        methods=["GET"],
        name=operation,
        summary=summary,
        response_model=out,
        responses=responses,
    )


def _replace(
    router: APIRouter,
    path: str,
    schemas: CatalogSchemas,
    op: tuple[str, str, ReplaceOp],
    name_type: Any,
    responses: Any,
) -> None:
    operation, summary, call = op
    body_model = schemas.replace or schemas.create

    async def endpoint(name: name_type, body: body_model, rt: RuntimeDep, principal: Admin) -> Any:  # type: ignore[valid-type]
        return await call(rt, name, body)

    router.add_api_route(
        f"{path}/{{name}}",
        endpoint,
        methods=["PUT"],
        name=operation,
        summary=summary,
        response_model=schemas.out,
        responses=responses,
    )


def _delete(router: APIRouter, path: str, op: tuple[str, str, DeleteOp], responses: Any) -> None:
    operation, summary, call = op

    async def endpoint(name: str, rt: RuntimeDep, principal: Admin) -> Response:
        await call(rt, name)
        return Response(status_code=204)

    router.add_api_route(
        f"{path}/{{name}}",
        endpoint,
        methods=["DELETE"],
        name=operation,
        summary=summary,
        status_code=204,
        responses=responses,
    )
