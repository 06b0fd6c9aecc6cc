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
from tierline_vendor_gateway.entrypoints import api, deliveries_api, handlers, workers
from tierline_vendor_gateway.service_layer.cases import GatewayDeps


def build_spec(settings: Settings | None = None) -> ServiceSpec:
    settings = settings or Settings()
    vendors = load_vendors(settings)

    def state(rt: Runtime) -> dict[str, object]:
        return {
            "deps": GatewayDeps(
                outbox=rt.outbox,
                clock=rt.clock,
                vendors=vendors,
                public_url=settings.base_url(),
                intake_url=settings.intake_url,
            )
        }

    return ServiceSpec(
        name="vendor-gateway",
        version=__version__,
        description="Hands L4 cases to vendors by Standard Webhooks and takes their callbacks.",
        settings=settings,
        metadata=Base.metadata,
        publishes=[topics.VENDOR],
        consumes=[topics.INCIDENTS, topics.ROUTING],
        handlers=lambda rt: handlers.bind(rt.state["deps"]),
        routers=[api.router, deliveries_api.router],
        workers=[
            ("webhook-delivery", workers.deliver_webhooks),
            ("delivery-gauges", workers.delivery_gauges),
        ],
        state=state,
        openapi_tags=[
            {"name": "vendors", "description": "L4 cases and vendor callbacks"},
            {"name": "deliveries", "description": "The delivery log, replays, endpoint state"},
        ],
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    return create_service_app(build_spec(settings), clock=clock)
