"""The router's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from tierline_router import __version__
from tierline_router.adapters.orm import Base
from tierline_router.config import Settings, load_policy
from tierline_router.entrypoints import api, handlers
from tierline_router.service_layer.routing import RouterDeps
from tierline_shared.clock import Clock
from tierline_shared.events import topics
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.runtime import create_app as create_service_app


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    policy = load_policy(settings)

    def state(rt: Runtime) -> dict[str, object]:
        return {"deps": RouterDeps(outbox=rt.outbox, clock=rt.clock, policy=policy)}

    return ServiceSpec(
        name="router",
        version=__version__,
        description="Assigns incidents to tiers, queues and agents, and escalates them L1 -> L4.",
        settings=settings,
        metadata=Base.metadata,
        publishes=[topics.ROUTING],
        consumes=[topics.INCIDENTS, topics.SLA],
        handlers=lambda rt: handlers.bind(rt.state["deps"]),
        routers=[api.router],
        state=state,
        openapi_tags=[{"name": "routing", "description": "Assignment and escalation"}],
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_service_app(build_spec(settings), clock=clock)
