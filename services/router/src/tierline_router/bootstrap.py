"""The router's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from tierline_router import __version__
from tierline_router.adapters.ical import MAX_ICS_BYTES
from tierline_router.adapters.orm import Base
from tierline_router.config import Settings, load_routing
from tierline_router.entrypoints import (
    agents_api,
    api,
    calendar_api,
    handlers,
    policies_api,
    queues_api,
    schedules_api,
    workers,
)
from tierline_router.service_layer.admin import apply_config
from tierline_router.service_layer.unit_of_work import RouterDeps, RouterUnitOfWork
from tierline_shared.clock import Clock
from tierline_shared.events import topics
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.runtime import create_app as create_service_app


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    config = load_routing(settings)

    def state(rt: Runtime) -> dict[str, object]:
        return {"deps": RouterDeps(outbox=rt.outbox, clock=rt.clock, vendors=list(config.vendors))}

    async def on_start(rt: Runtime) -> None:
        async with rt.unit_of_work() as session:
            await apply_config(RouterUnitOfWork(session, rt.outbox), rt.state["deps"], config)

    return ServiceSpec(
        name="router",
        version=__version__,
        description="Assigns incidents to tiers, queues and agents, and escalates them L1 -> L4.",
        settings=settings,
        metadata=Base.metadata,
        publishes=[topics.ROUTING],
        consumes=[topics.INCIDENTS, topics.SLA, topics.VENDOR],
        handlers=lambda rt: handlers.bind(rt.state["deps"]),
        routers=[
            api.router,
            agents_api.router,
            queues_api.router,
            policies_api.router,
            schedules_api.router,
            calendar_api.router,
        ],
        workers=[
            ("ack-timer", workers.ack_timer),
            ("shift-watch", workers.shift_watch),
            ("queue-gauges", workers.queue_gauges),
        ],
        state=state,
        on_start=on_start,
        # an .ics import may be up to 1 MiB: the endpoint itself refuses more, naming the file
        larger_bodies=[(r"/v1/schedules/[^/]+/import", 4 * MAX_ICS_BYTES)],
        openapi_tags=[
            {"name": "routing", "description": "Who holds an incident; escalate and de-escalate"},
            {"name": "configuration", "description": "Agents, queues and escalation policies"},
            {"name": "schedules", "description": "On-call schedules, overrides, who is on call, iCalendar"},
        ],
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_service_app(build_spec(settings), clock=clock)
