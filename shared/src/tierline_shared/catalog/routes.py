"""The standard routes of a catalog resource: list, create, get, replace and delete.

``mount`` adds them to a router from one table (``ROUTES``: verb, method, path, status code,
endpoint) and what a resource declares (``CatalogOps``): its name (``queue``: operation names
``list_queues``, ``create_queue`` …, operation ids ``list_queues_v1_queues_get`` …), a summary
per route it has (``PerRoute``), and the service-layer module whose use cases have the standard
names (``list_all``, ``get``, ``create``, ``replace``, ``delete``). Reading takes the read scope,
changing the admin scope; a created entry's address is in ``Location``.

The routes own the request's work: a read opens a session, a change the request's transaction
(``Runtime.unit_of_work``), and each builds the service's unit of work over it (``Work``) for
the use case. A resource module declares only how a request becomes the use case's arguments,
how an entry becomes the answer, and which use cases run.

No ``from __future__ import annotations`` here: the endpoints' annotations are set from the
resource's own models (``_typed``), which FastAPI reads from the functions as they are made.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypedDict, TypeVar, cast

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.api import Admin, Reader, RuntimeDep
from tierline_shared.catalog.schemas import CatalogSchemas
from tierline_shared.catalog_schemas import NamePath
from tierline_shared.runtime import Runtime

U = TypeVar("U")  # the service's unit of work
D = TypeVar("D")  # what the service's changing use cases take besides it (deps, the time …)
L = TypeVar("L")  # an entry as the use cases return it (``Listed[Item]``, a vendor's registration …)


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


class PerRoute(TypedDict, total=False):
    """A text for each of a resource's routes, by verb: ``PerRoute(list="Every queue", get="One queue")``."""

    list: str
    create: str
    get: str
    replace: str
    delete: str


def _plural(name: str) -> str:
    """queue: queues, policy: policies, day: days."""
    if name.endswith("y") and name[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return name[:-1] + "ies"
    return name + "s"


@dataclass(frozen=True)
class CatalogOps(Generic[U, D, L]):
    """A resource's routes: which run, the use cases they call and how requests and answers convert.

    ``summaries`` names the routes mounted, by verb (``list``, ``create``, ``get``, ``replace``,
    ``delete``), with their summaries; each is known by its operation name, the verb and the
    resource's ``name`` (``create_queue``), its ``plural`` for ``list`` (``list_queues``).
    ``uses`` holds the use cases by their standard names (a service-layer module of the resource):
    each is called with the unit of work first, ``list_all(uow)``, ``get(uow, name)``,
    ``create(uow, deps, *request(body, body.name))``, ``replace(uow, deps, *request(body, name))``,
    ``delete(uow, name)``. ``request`` turns a body (and the entry's name) into the use case's
    arguments (the domain entry, its placement …), before any transaction opens; ``answer`` turns
    what a use case returns into the API's answer, or ``answers(uow)`` gives that conversion when
    it reads more first, in the same transaction (a queue's counts).
    """

    work: Work[U, D]
    name: str
    uses: Any
    summaries: PerRoute
    request: Callable[[Any, str], Sequence[Any]]
    answer: Callable[[L], Any] | None = None
    answers: Callable[[U], Awaitable[Callable[[L], Any]]] | None = None
    plural: str | None = None  # unsaid: the name and an s (a y after a consonant: ies)
    # the path's name as replace takes it: validated (NamePath, a 422 naming it) or any text
    replace_name: Any = NamePath
    # what create answers, when not the resource's Out (e.g. with warnings about what it took)
    create_out: Any = None
    # create's work before its transaction opens (e.g. DNS look-ups): ``prepare(deps, request)``;
    # what it finds is handed with the answer to ``created``, which makes create's answer
    prepare: Callable[[D, Sequence[Any]], Awaitable[Any]] = _no_preparation
    created: Callable[[Any, Any], Any] | None = None
    # longer descriptions of operations, by verb
    descriptions: PerRoute = field(default_factory=PerRoute)

    def operation(self, verb: str) -> str:
        """The operation's name (the OpenAPI operation id's stem): ``list_queues``, ``get_queue`` …"""
        return f"list_{self.plural or _plural(self.name)}" if verb == "list" else f"{verb}_{self.name}"

    def use_case(self, verb: str) -> Callable[..., Awaitable[Any]]:
        attribute = "list_all" if verb == "list" else verb
        call = getattr(self.uses, attribute, None)
        if call is None:
            raise TypeError(f"{self.operation(verb)} needs a use case {attribute} in {self.uses!r}")
        return cast("Callable[..., Awaitable[Any]]", call)

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
    responses: dict[int | str, dict[str, Any]],
    location: str | None = None,
) -> None:
    """Add the routes ``ops`` summarises at ``path`` and ``path/{name}``, in the order of ``ROUTES``.

    ``location``: the collection's full path, for ``Location``; unsaid, the router's prefix and ``path``.
    """
    summaries = cast("Mapping[str, str]", ops.summaries)  # every value is a text
    descriptions = cast("Mapping[str, str]", ops.descriptions)
    unknown = {*summaries, *descriptions} - {route.verb for route in ROUTES}
    if unknown:
        raise TypeError(f"no catalog route is called {', '.join(sorted(unknown))}")
    mounting = _Mounting(ops, schemas, location or router.prefix + path)
    for route in ROUTES:
        if route.verb not in summaries:
            continue
        router.add_api_route(
            f"{path}/{{name}}" if route.is_one else path,
            route.endpoint(mounting, ops.use_case(route.verb)),
            methods=[route.method],
            name=ops.operation(route.verb),
            summary=summaries[route.verb],
            description=descriptions.get(route.verb),
            response_model=mounting.answer_model(route.verb),
            status_code=route.status_code,
            responses=responses,
        )


@dataclass(frozen=True)
class _Mounting(Generic[U, D, L]):
    """What the endpoints of one resource share: its operations, schemas and collection's address."""

    ops: CatalogOps[U, D, L]
    schemas: CatalogSchemas
    location: str

    def answer_model(self, verb: str) -> Any:
        answer: Any = self.schemas.answer if verb != "delete" else None
        if verb == "list":
            return list[answer]
        return (self.ops.create_out if verb == "create" else None) or answer


def _typed(endpoint: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """``endpoint`` with the parameters' types FastAPI reads: the resource's models, made at run time."""
    endpoint.__annotations__.update(annotations)
    return endpoint


# Each verb's endpoint, calling the use case it is given. Reading takes the read scope and a session
# of its own; changing takes the admin scope and the request's transaction.


def _list(m: _Mounting[U, D, L], call: Callable[..., Awaitable[Sequence[L]]]) -> Callable[..., Any]:
    async def endpoint(rt: RuntimeDep, principal: Reader) -> Any:
        async with m.ops.work.reading(rt) as uow:
            entries = await call(uow)
            answer = await m.ops.converter(uow)
            return [answer(entry) for entry in entries]

    return endpoint


def _create(m: _Mounting[U, D, L], call: Callable[..., Awaitable[L]]) -> Callable[..., Any]:
    ops = m.ops

    async def endpoint(body: Any, rt: RuntimeDep, principal: Admin, response: Response) -> Any:
        request = ops.request(body, body.name)
        prepared = await ops.prepare(ops.work.deps(rt), request)
        async with ops.work.changing(rt) as uow:
            made = await call(uow, ops.work.deps(rt), *request)
            answer = (await ops.converter(uow))(made)
        response.headers["Location"] = f"{m.location}/{body.name}"
        return answer if ops.created is None else ops.created(answer, prepared)

    return _typed(endpoint, body=m.schemas.create)


def _get(m: _Mounting[U, D, L], call: Callable[..., Awaitable[L]]) -> Callable[..., Any]:
    async def endpoint(name: str, rt: RuntimeDep, principal: Reader) -> Any:
        async with m.ops.work.reading(rt) as uow:
            return (await m.ops.converter(uow))(await call(uow, name))

    return endpoint


def _replace(m: _Mounting[U, D, L], call: Callable[..., Awaitable[L]]) -> Callable[..., Any]:
    ops = m.ops

    async def endpoint(name: str, body: Any, rt: RuntimeDep, principal: Admin) -> Any:
        request = ops.request(body, name)
        async with ops.work.changing(rt) as uow:
            return (await ops.converter(uow))(await call(uow, ops.work.deps(rt), *request))

    return _typed(endpoint, name=ops.replace_name, body=m.schemas.replacing)


def _delete(m: _Mounting[U, D, L], call: Callable[..., Awaitable[None]]) -> Callable[..., Any]:
    async def endpoint(name: str, rt: RuntimeDep, principal: Admin) -> Response:
        async with m.ops.work.changing(rt) as uow:
            await call(uow, name)
        return Response(status_code=204)

    return endpoint


@dataclass(frozen=True)
class Route:
    """One standard route: its verb, HTTP method, whether it is at ``path/{name}`` (one entry), the
    status code of its answer (unsaid: 200) and how its endpoint is made."""

    verb: str
    method: str
    endpoint: Callable[[_Mounting[Any, Any, Any], Callable[..., Awaitable[Any]]], Callable[..., Any]]
    is_one: bool = False
    status_code: int | None = None


ROUTES = (
    Route("list", "GET", _list),
    Route("create", "POST", _create, status_code=201),
    Route("get", "GET", _get, is_one=True),
    Route("replace", "PUT", _replace, is_one=True),
    Route("delete", "DELETE", _delete, is_one=True, status_code=204),
)
