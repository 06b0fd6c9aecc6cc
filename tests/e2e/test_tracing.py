"""One incident is one trace across intake → router → sla-monitor, as an OTLP collector receives it.

The services are processes, so the test is their collector: a small OTLP/HTTP receiver on 127.0.0.1
keeps every span it is sent, and the services export to it (OTEL_EXPORTER_OTLP_ENDPOINT).
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.conftest import ADMIN_KEY, System, running_system
from tierline_launcher.procs import free_port
from tierline_shared.events import IncidentAssigned, IncidentCreated, IncidentEscalated, SlaBreached, topics
from tierline_shared.testing import ServerThread, eventually

pytestmark = pytest.mark.e2e

INCIDENT = {
    "title": "Payroll batch stuck",
    "description": "The nightly run has not finished.",
    "service": "payroll",
    "category": "application",
    "impact": "medium",
    "urgency": "high",
    "channel": "monitoring",
    "reporter": "cron",
}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: int
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    return getattr(value, field) if field else None


class SpanCollector:
    """An OTLP/HTTP trace receiver (protobuf ``ExportTraceServiceRequest`` at POST /v1/traces)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])

    async def _traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        received = []
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                received.extend(
                    ReceivedSpan(
                        service=resource.get("service.name", ""),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=span.kind,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    )
                    for span in scope_spans.spans
                )
        with self._lock:
            self.spans.extend(received)
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    def of_trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]


@pytest.fixture(scope="module")
def collector() -> Iterator[SpanCollector]:
    port = free_port()
    collector = SpanCollector(port)
    with ServerThread(collector.app(), port):
        yield collector


@pytest.fixture(scope="module")
def traced_system(infra, collector: SpanCollector) -> Iterator[System]:
    otel = {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with running_system(infra, otel) as system:
        yield system


def _consumed(spans: list[ReceivedSpan], service: str, event_type: str) -> list[ReceivedSpan]:
    """The CONSUMER spans that applied the event (a redelivery after a rebalance is a duplicate)."""
    return [
        s
        for s in spans
        if s.service == f"tierline-{service}"
        and s.kind == Span.SpanKind.SPAN_KIND_CONSUMER
        and s.attributes.get("cloudevents.event_type") == event_type
        and s.attributes.get("tierline.outcome") == "processed"
    ]


async def test_one_incident_is_one_trace_from_intake_through_router_to_sla_monitor(
    traced_system: System, collector: SpanCollector
) -> None:
    system = traced_system
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        created = await http.post(f"{system.url('intake')}/v1/incidents", json=INCIDENT)
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]
    _version, trace_id, request_span_id, _flags = created.headers["traceresponse"].split("-")

    def whole_trace() -> list[ReceivedSpan] | None:
        spans = collector.of_trace(trace_id)
        wanted = [
            [s for s in spans if s.span_id == request_span_id],
            _consumed(spans, "router", IncidentCreated.event_type),
            _consumed(spans, "sla-monitor", IncidentCreated.event_type),
            _consumed(spans, "sla-monitor", IncidentAssigned.event_type),
        ]
        return spans if all(wanted) else None

    spans = await eventually(whole_trace, timeout=30, what="router and sla-monitor spans in the POST's trace")

    [request] = [s for s in spans if s.span_id == request_span_id]
    assert request.service == "tierline-intake"
    assert request.kind == Span.SpanKind.SPAN_KIND_SERVER
    assert request.name == "POST /v1/incidents"
    # intake's SQL is in the request's trace, under its span
    sql = [s for s in spans if s.parent_id == request_span_id and s.kind == Span.SpanKind.SPAN_KIND_CLIENT]
    assert sql and all(s.attributes["db.system.name"] == "postgresql" for s in sql)
    assert any(s.attributes["db.query.text"].startswith("INSERT INTO outbox") for s in sql)

    # router took incident.created from Kafka as a child of the request (ce_traceparent) ...
    [routed] = _consumed(spans, "router", IncidentCreated.event_type)
    assert routed.parent_id == request_span_id
    assert routed.name == f"process {system.topic_prefix}{topics.INCIDENTS}"
    assert routed.attributes["tierline.incident.id"] == incident_id
    assert routed.attributes["messaging.system"] == "kafka"
    assert routed.attributes["messaging.consumer.group.name"] == f"{system.topic_prefix}tierline-router"
    # ... and sla-monitor too, starting its clocks in the same trace
    [clocked] = _consumed(spans, "sla-monitor", IncidentCreated.event_type)
    assert clocked.parent_id == request_span_id
    # the assignment router staged while handling it continues the trace into sla-monitor
    [timed] = _consumed(spans, "sla-monitor", IncidentAssigned.event_type)
    assert timed.parent_id == routed.span_id
    assert timed.attributes["tierline.incident.id"] == incident_id
    assert {"tierline-intake", "tierline-router", "tierline-sla-monitor"} <= {s.service for s in spans}
    # probes and scrapes make no spans
    assert not [s for s in collector.spans if s.name.endswith(("/healthz", "/readyz", "/metrics"))]


async def test_breaches_escalations_and_the_vendor_handoff_continue_the_incident_s_trace(
    traced_system: System, collector: SpanCollector
) -> None:
    """Timers fire long after the event that armed them; the clock keeps that event's trace context."""
    system = traced_system
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        created = await http.post(f"{system.url('intake')}/v1/incidents", json=INCIDENT)
    assert created.status_code == 201, created.text
    trace_id = created.headers["traceresponse"].split("-")[1]

    def up_to_the_vendor() -> list[ReceivedSpan] | None:
        spans = collector.of_trace(trace_id)
        wanted = [
            _consumed(spans, "router", SlaBreached.event_type),  # a tier budget ran out (the poller)
            _consumed(spans, "sla-monitor", IncidentEscalated.event_type),
            _consumed(spans, "vendor-gateway", IncidentEscalated.event_type),  # the L4 handoff
        ]
        return spans if all(wanted) else None

    spans = await eventually(up_to_the_vendor, timeout=60, what="the climb to L4 in the creation's trace")
    breaches = _consumed(spans, "router", SlaBreached.event_type)
    # each breach hangs under the span that started its clock, in sla-monitor
    clock_starters = {s.span_id for s in spans if s.service == "tierline-sla-monitor"}
    assert all(b.parent_id in clock_starters for b in breaches)
    assert {"tierline-intake", "tierline-router", "tierline-sla-monitor", "tierline-vendor-gateway"} <= {
        s.service for s in spans
    }
