"""The vendor gateway's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from tierline_shared.clock import Clock
from tierline_shared.events import topics
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.runtime import create_app as create_service_app
from tierline_vendor_gateway import __version__
from tierline_vendor_gateway.adapters.orm import Base
from tierline_vendor_gateway.config import Settings, load_vendors
from tierline_vendor_gateway.entrypoints import (
    api,
    cases_api,
    deliveries_api,
    handlers,
    vendors_api,
    workers,
)
from tierline_vendor_gateway.service_layer import registry
from tierline_vendor_gateway.service_layer.deps import GatewayDeps


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    config = load_vendors(settings)

    def state(rt: Runtime) -> dict[str, object]:
        return {
            "deps": GatewayDeps(
                outbox=rt.outbox,
                clock=rt.clock,
                delivery=config.delivery,
                public_url=settings.base_url(),
                intake_url=settings.intake_url,
            )
        }

    async def on_start(rt: Runtime) -> None:
        async with rt.unit_of_work() as session:
            await registry.apply_config(rt.state["deps"].unit_of_work(session), rt.state["deps"], config)

    return ServiceSpec(
        name="vendor-gateway",
        version=__version__,
        description="Hands L4 cases to vendors by Standard Webhooks and takes their callbacks.",
        settings=settings,
        metadata=Base.metadata,
        publishes=[topics.VENDOR],
        consumes=[topics.INCIDENTS, topics.ROUTING],
        handlers=lambda rt: handlers.bind(rt.state["deps"]),
        routers=[api.router, cases_api.router, vendors_api.router, deliveries_api.router],
        workers=[
            ("webhook-delivery", workers.deliver_webhooks),
            ("delivery-gauges", workers.delivery_gauges),
        ],
        state=state,
        on_start=on_start,
        openapi_tags=[
            {"name": "vendors", "description": "The vendor registry, L4 cases and vendor callbacks"},
            {"name": "deliveries", "description": "The delivery log and replays"},
        ],
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_service_app(build_spec(settings), clock=clock)
