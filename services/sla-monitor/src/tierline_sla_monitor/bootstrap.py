"""The SLA monitor's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from tierline_shared.clock import Clock
from tierline_shared.events import topics
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.runtime import create_app as create_service_app
from tierline_sla_monitor import __version__
from tierline_sla_monitor.adapters.orm import Base
from tierline_sla_monitor.config import Settings, load_config
from tierline_sla_monitor.entrypoints import api, calendars_api, handlers, policies_api, workers
from tierline_sla_monitor.service_layer import catalog
from tierline_sla_monitor.service_layer.clocks import SlaDeps, SlaUnitOfWork


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    config = load_config(settings)

    def state(rt: Runtime) -> dict[str, object]:
        return {"deps": SlaDeps(outbox=rt.outbox, clock=rt.clock, config=config)}

    async def on_start(rt: Runtime) -> None:
        async with rt.unit_of_work() as session:
            await catalog.apply_config(SlaUnitOfWork(session, rt.outbox), config, rt.clock.now())

    return ServiceSpec(
        name="sla-monitor",
        version=__version__,
        description="Runs response, resolution and tier-budget clocks and announces breaches.",
        settings=settings,
        metadata=Base.metadata,
        publishes=[topics.SLA],
        consumes=[topics.INCIDENTS, topics.ROUTING, topics.VENDOR],
        handlers=lambda rt: handlers.bind(rt.state["deps"]),
        lock_key=handlers.handlers.lock_key,
        routers=[api.router, policies_api.router, calendars_api.router],
        workers=[("timer-poller", workers.fire_timers), ("clock-gauges", workers.clock_gauges)],
        state=state,
        on_start=on_start,
        openapi_tags=[{"name": "sla", "description": "Clocks and targets"}],
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_service_app(build_spec(settings), clock=clock)
