"""Trace context as CloudEvents headers, the HTTP spans of an app, and trace ids in log lines."""

from __future__ import annotations

import ast
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import structlog
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tierline_shared import tracing
from tierline_shared.events import Envelope, IncidentAcknowledged, IncidentCreated
from tierline_shared.logging import add_trace_ids, configure_logging, get_logger
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.consumer import EventConsumer

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _created() -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="Mail down",
        service="mail",
        category="email",
        priority="P2",
        channel="web",
        reporter="ann",
        created_at=datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    )


def _tracer() -> trace.Tracer:
    return trace.get_tracer("tests")


def test_no_trace_headers_outside_a_span(spans: InMemorySpanExporter) -> None:
    assert tracing.event_headers() == []


def test_trace_headers_name_the_current_span(spans: InMemorySpanExporter) -> None:
    with _tracer().start_as_current_span("staging") as span:
        headers = dict(tracing.event_headers())
    ids = span.get_span_context()
    assert headers == {
        cloudevents.TRACEPARENT: f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}".encode()
    }


def test_a_consumer_continues_the_trace_the_event_carries(spans: InMemorySpanExporter) -> None:
    with _tracer().start_as_current_span("request"):
        headers = dict(tracing.event_headers())
    parent = tracing.context_from(headers[cloudevents.TRACEPARENT].decode())
    with _tracer().start_as_current_span("process", context=parent, kind=SpanKind.CONSUMER):
        pass
    request, process = spans.get_finished_spans()
    assert process.context.trace_id == request.context.trace_id
    assert process.parent is not None and process.parent.span_id == request.context.span_id
    assert process.parent.is_remote


def test_tracestate_travels_when_there_is_one(spans: InMemorySpanExporter) -> None:
    parent = tracing.context_from(PARENT, "vendor=abc,other=1")
    with _tracer().start_as_current_span("handler", context=parent):
        headers = dict(tracing.event_headers())
    assert headers[cloudevents.TRACESTATE] == b"vendor=abc,other=1"
    assert headers[cloudevents.TRACEPARENT].startswith(b"00-0af7651916cd43dd8448eb211c80319c-")


@pytest.mark.parametrize("traceparent", [None, "", "garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"])
def test_without_a_valid_traceparent_a_new_trace_starts(
    spans: InMemorySpanExporter, traceparent: str | None
) -> None:
    with _tracer().start_as_current_span("outer"):
        # a record's missing context never makes it a child of whatever happens to be current
        with _tracer().start_as_current_span("process", context=tracing.context_from(traceparent)):
            pass
    process, outer = spans.get_finished_spans()
    assert process.parent is None
    assert process.context.trace_id != outer.context.trace_id


def test_decode_accepts_the_tracing_extension_and_leaves_it_out_of_the_envelope() -> None:
    envelope = Envelope(data=_created(), source="/tierline/intake")
    record = cloudevents.encode(envelope)
    traced = [*record.headers, (cloudevents.TRACEPARENT, PARENT.encode()), (cloudevents.TRACESTATE, b"a=1")]
    assert cloudevents.decode(traced, record.value) == envelope


def test_a_garbled_trace_header_does_not_make_the_event_poison() -> None:
    envelope = Envelope(data=_created(), source="/tierline/intake")
    record = cloudevents.encode(envelope)
    garbled = [*record.headers, (cloudevents.TRACEPARENT, b"\xff\xfe")]
    assert cloudevents.decode(garbled, record.value) == envelope
    # any other header that is not UTF-8 still is
    with pytest.raises(cloudevents.MalformedCloudEvent, match="ce_subject"):
        cloudevents.decode([*record.headers, ("ce_subject", b"\xff")], record.value)


async def test_a_record_no_handler_wants_is_skipped_without_a_span(spans: InMemorySpanExporter) -> None:
    async def never(session: object, envelope: Envelope) -> None:
        raise AssertionError("not this one")

    consumer = EventConsumer(
        group_id="g",
        topics=["t"],
        handlers={IncidentCreated: never},
        bootstrap_servers="127.0.0.1:1",  # never started: this record needs neither Kafka nor a database
        sessions=None,  # type: ignore[arg-type]
        inbox=None,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
    )
    ack = IncidentAcknowledged(incident_id=uuid.uuid4(), acknowledged_at=datetime.now(UTC))
    record = cloudevents.encode(Envelope(data=ack, source="/tierline/intake"))
    headers = [*record.headers, (cloudevents.TRACEPARENT, PARENT.encode())]
    kafka_record = ConsumerRecord("t", 0, 7, 0, 0, record.key, record.value, None, 0, 0, headers)
    assert await consumer.process(kafka_record) == "ignored"
    assert spans.get_finished_spans() == ()
    # not even decoded: a body this consumer would choke on is not its business
    garbled = ConsumerRecord("t", 0, 8, 0, 0, record.key, b"\xff not json", None, 0, 0, headers)
    assert await consumer.process(garbled) == "ignored"


def _app() -> FastAPI:
    app = FastAPI(telemetry=tracing.FASTAPI_TELEMETRY_OFF)
    tracing.instrument_app(app)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/things/{thing}")
    async def create(thing: str) -> dict:
        return {"trace": tracing.current_context()[0]}

    return app


async def test_one_server_span_per_request_and_none_for_probes(spans: InMemorySpanExporter) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
        assert (await http.get("/healthz")).status_code == 200
        answer = await http.post("/v1/things/7", headers={"traceparent": PARENT})
    [server] = spans.get_finished_spans()  # no receive/send spans, no probe span
    assert server.kind == SpanKind.SERVER
    assert server.name == "POST /v1/things/{thing}"
    assert server.context.trace_id == int(PARENT.split("-")[1], 16)  # the caller's trace continues
    ids = server.context
    assert answer.json()["trace"] == f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"


def test_log_lines_carry_the_current_trace(spans: InMemorySpanExporter) -> None:
    assert add_trace_ids(None, "info", {"event": "outside"}) == {"event": "outside"}
    with _tracer().start_as_current_span("work") as span:
        line = add_trace_ids(None, "info", {"event": "inside"})
    ids = span.get_span_context()
    assert line == {"event": "inside", "trace_id": f"{ids.trace_id:032x}", "span_id": f"{ids.span_id:016x}"}


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """configure_logging writing to a buffer; the logging set-up is put back afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    configure_logging("tests")
    try:
        yield out
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.configure(**config)
        structlog.contextvars.unbind_contextvars("service")


def test_our_and_library_log_lines_carry_trace_ids(
    spans: InMemorySpanExporter, json_logs: io.StringIO
) -> None:
    with _tracer().start_as_current_span("work") as span:
        get_logger("tests.ours").info("ours")
        logging.getLogger("tests.library").warning("theirs")
    get_logger("tests.ours").info("after")
    lines = {line["event"]: line for line in map(json.loads, json_logs.getvalue().splitlines())}
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert lines["ours"]["trace_id"] == trace_id
    assert lines["theirs"]["trace_id"] == trace_id
    assert "trace_id" not in lines["after"]


@pytest.mark.parametrize(
    ("env", "exported_to"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/t"}, "http://collector:4318/t"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, None),
        # a transport this build does not have is not silently swapped for another
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            None,
        ),
    ],
)
def test_spans_leave_the_process_only_when_a_collector_is_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], exported_to: str | None
) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    exporter = tracing._exporter()
    assert (exporter and exporter._endpoint) == exported_to


_SHOW_RESOURCE = """
from tierline_shared import tracing
provider = tracing.configure("router", "1.2.3")
print(provider and dict(provider.resource.attributes))
"""


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "tierline-router"),
        ({"OTEL_SERVICE_NAME": "router-eu"}, "router-eu"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=staging"}, "tierline-router"),
        ({"OTEL_SDK_DISABLED": "true"}, None),
    ],
)
def test_the_resource_names_the_service_unless_the_environment_does(
    env: dict[str, str], name: str | None
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    shown = subprocess.run(
        [sys.executable, "-c", _SHOW_RESOURCE],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    resource = ast.literal_eval(shown.stdout.strip().splitlines()[-1])
    if name is None:
        assert resource is None
        return
    assert resource["service.name"] == name
    assert resource["service.version"] == "1.2.3"
    if "OTEL_RESOURCE_ATTRIBUTES" in env:
        assert resource["deployment.environment.name"] == "staging"
