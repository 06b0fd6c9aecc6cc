"""The standard routes of a catalog resource: list, create, get, replace and delete.

``mount`` adds them to a router with the resource's schemas, paths, summaries, scopes and the
use cases they call (``CatalogOps``); each operation keeps the name it is known by in the
OpenAPI document (``list_queues``: operation id ``list_queues_v1_queues_get``). Reading takes
the read scope, changing the admin scope; a created entry's address is in ``Location``.

The routes own the request's work: a read opens a session, a change the request's transaction
(``Runtime.unit_of_work``), and each builds the service's unit of work over it (``Work``) for
the use case. A resource module declares only how a request becomes the use case's arguments,
how an entry becomes the answer, and which use cases run.

No ``from __future__ import annotations`` here: the endpoints' annotations are set from the
resource's own models (``_typed``), which FastAPI reads from the functions as they are made.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.api import Admin, Reader, RuntimeDep
from tierline_shared.catalog.schemas import CatalogSchemas
from tierline_shared.catalog_schemas import NamePath
from tierline_shared.runtime import Runtime

U = TypeVar("U")  # the service's unit of work
D = TypeVar("D")  # what the service's changing use cases take besides it (deps, the time …)
L = TypeVar("L")  # an entry as the use cases return it (``Listed[Item]``, a vendor's registration …)
F = TypeVar("F", bound=Callable[..., Any])

# An operation: its name (the OpenAPI operation id's stem), its summary and the use case it calls.
Op = tuple[str, str, F]


@dataclass(frozen=True)
class Work(Generic[U, D]):
    """How a service's routes reach its use cases: its unit of work over a session, and ``deps``.

    ``unit_of_work(rt, session)`` builds the service's unit of work (e.g.
    ``lambda rt, session: RouterUnitOfWork(session, rt.outbox)``); ``deps(rt)`` is what the
    changing use cases take after it (the service's deps, or the time of the change).
    """

    unit_of_work: Callable[[Runtime, AsyncSession], U]
    deps: Callable[[Runtime], D]

    @asynccontextmanager
    async def reading(self, rt: Runtime) -> AsyncIterator[U]:
        """A unit of work over a session of its own, for reads (no transaction is begun)."""
        async with rt.sessions() as session:
            yield self.unit_of_work(rt, session)

    @asynccontextmanager
    async def changing(self, rt: Runtime) -> AsyncIterator[U]:
        """A unit of work over the request's transaction, committed when the block ends."""
        async with rt.unit_of_work() as session:
            yield self.unit_of_work(rt, session)


async def _no_preparation(_: object, __: Sequence[Any]) -> None:
    return None


@dataclass(frozen=True)
class CatalogOps(Generic[U, D, L]):
    """A resource's routes: the use cases they call and how requests and answers convert.

    Each route calls its use case with the unit of work first: ``list(uow)``, ``get(uow, name)``,
    ``create(uow, deps, *request(body, body.name))``, ``replace(uow, deps, *request(body, name))``,
    ``delete(uow, name)``. ``request`` turns a body (and the entry's name) into the use case's
    arguments (the domain entry, its placement …), before any transaction opens; ``answer`` turns
    what a use case returns into the API's answer, or ``answers(uow)`` gives that conversion when
    it reads more first, in the same transaction (a queue's counts).
    """

    work: Work[U, D]
    request: Callable[[Any, str], Sequence[Any]]
    answer: Callable[[L], Any] | None = None
    answers: Callable[[U], Awaitable[Callable[[L], Any]]] | None = None
    list: Op[Callable[[U], Awaitable[Sequence[L]]]] | None = None
    create: Op[Callable[..., Awaitable[L]]] | None = None
    get: Op[Callable[[U, str], Awaitable[L]]] | None = None
    replace: Op[Callable[..., Awaitable[L]]] | None = None
    delete: Op[Callable[[U, str], Awaitable[None]]] | None = None
    # the path's name as replace takes it: validated (NamePath, a 422 naming it) or any text
    replace_name: Any = NamePath
    # what create answers, when not the resource's Out (e.g. with warnings about what it took)
    create_out: Any = None
    # create's work before its transaction opens (e.g. DNS look-ups): ``prepare(deps, request)``;
    # what it finds is handed with the answer to ``created``, which makes create's answer
    prepare: Callable[[D, Sequence[Any]], Awaitable[Any]] = _no_preparation
    created: Callable[[Any, Any], Any] | None = None
    # longer descriptions of operations, by operation name
    descriptions: dict[str, str] = field(default_factory=dict)

    async def converter(self, uow: U) -> Callable[[L], Any]:
        if self.answers is not None:
            return await self.answers(uow)
        if self.answer is None:
            raise TypeError("a catalog's routes need answer or answers")
        return self.answer


def mount(
    router: APIRouter,
    path: str,
    schemas: CatalogSchemas,
    ops: CatalogOps[U, D, L],
    *,
    location: str,
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """Add ``ops``' routes at ``path`` and ``path/{name}``; ``location``: the collection's full path."""
    if ops.list is not None:
        _list(router, path, schemas, ops, ops.list, responses)
    if ops.create is not None:
        _create(router, path, schemas, ops, ops.create, location, responses)
    if ops.get is not None:
        _get(router, path, schemas, ops, ops.get, responses)
    if ops.replace is not None:
        _replace(router, path, schemas, ops, ops.replace, responses)
    if ops.delete is not None:
        _delete(router, path, ops, ops.delete, responses)


def _typed(endpoint: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """``endpoint`` with the parameters' types FastAPI reads: the resource's models, made at run time."""
    endpoint.__annotations__.update(annotations)
    return endpoint


def _list(
    router: APIRouter,
    path: str,
    schemas: CatalogSchemas,
    ops: CatalogOps[U, D, L],
    op: Op[Callable[[U], Awaitable[Sequence[L]]]],
    responses: Any,
) -> None:
    name, summary, call = op
    answer_model: Any = schemas.answer

    async def endpoint(rt: RuntimeDep, principal: Reader) -> Any:
        async with ops.work.reading(rt) as uow:
            entries = await call(uow)
            answer = await ops.converter(uow)
            return [answer(entry) for entry in entries]

    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        name=name,
        summary=summary,
        response_model=list[answer_model],
        responses=responses,
    )


def _create(
    router: APIRouter,
    path: str,
    schemas: CatalogSchemas,
    ops: CatalogOps[U, D, L],
    op: Op[Callable[..., Awaitable[L]]],
    location: str,
    responses: Any,
) -> None:
    name, summary, call = op

    async def endpoint(body: Any, rt: RuntimeDep, principal: Admin, response: Response) -> Any:
        request = ops.request(body, body.name)
        prepared = await ops.prepare(ops.work.deps(rt), request)
        async with ops.work.changing(rt) as uow:
            made = await call(uow, ops.work.deps(rt), *request)
            answer = (await ops.converter(uow))(made)
        response.headers["Location"] = f"{location}/{body.name}"
        return answer if ops.created is None else ops.created(answer, prepared)

    router.add_api_route(
        path,
        _typed(endpoint, body=schemas.create),
        methods=["POST"],
        name=name,
        summary=summary,
        description=ops.descriptions.get(name),
        response_model=ops.create_out or schemas.answer,
        status_code=201,
        responses=responses,
    )


def _get(
    router: APIRouter,
    path: str,
    schemas: CatalogSchemas,
    ops: CatalogOps[U, D, L],
    op: Op[Callable[[U, str], Awaitable[L]]],
    responses: Any,
) -> None:
    operation, summary, call = op

    async def endpoint(name: str, rt: RuntimeDep, principal: Reader) -> Any:
        async with ops.work.reading(rt) as uow:
            entry = await call(uow, name)
            return (await ops.converter(uow))(entry)

    router.add_api_route(
        f"{path}/{{name}}",
        endpoint,
        methods=["GET"],
        name=operation,
        summary=summary,
        response_model=schemas.answer,
        responses=responses,
    )


def _replace(
    router: APIRouter,
    path: str,
    schemas: CatalogSchemas,
    ops: CatalogOps[U, D, L],
    op: Op[Callable[..., Awaitable[L]]],
    responses: Any,
) -> None:
    operation, summary, call = op

    async def endpoint(name: str, body: Any, rt: RuntimeDep, principal: Admin) -> Any:
        request = ops.request(body, name)
        async with ops.work.changing(rt) as uow:
            entry = await call(uow, ops.work.deps(rt), *request)
            return (await ops.converter(uow))(entry)

    router.add_api_route(
        f"{path}/{{name}}",
        _typed(endpoint, name=ops.replace_name, body=schemas.replacing),
        methods=["PUT"],
        name=operation,
        summary=summary,
        response_model=schemas.answer,
        responses=responses,
    )


def _delete(
    router: APIRouter,
    path: str,
    ops: CatalogOps[U, D, L],
    op: Op[Callable[[U, str], Awaitable[None]]],
    responses: Any,
) -> None:
    operation, summary, call = op

    async def endpoint(name: str, rt: RuntimeDep, principal: Admin) -> Response:
        async with ops.work.changing(rt) as uow:
            await call(uow, name)
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
