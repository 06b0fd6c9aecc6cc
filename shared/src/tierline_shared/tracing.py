"""OpenTelemetry tracing: one SDK provider per process, HTTP and SQL spans, W3C context on every event.

A trace follows one incident across services: the HTTP server span (FastAPI), the SQL it runs, the
events it stages (their ``ce_traceparent`` / ``ce_tracestate`` headers, the CloudEvents distributed
tracing extension), each consumer's span for them (see ``messaging.consumer``) and what that stages.

The provider always exists, so trace ids exist, propagate and appear in the logs; spans leave the
process only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) names an
OTLP/HTTP collector. ``OTEL_SDK_DISABLED=true`` turns all of it off; ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, the exporter's own
``OTEL_EXPORTER_OTLP_*`` settings and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (``fastapi``,
``sqlalchemy``) are honoured.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.semconv.attributes.db_attributes import (
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_QUERY_TEXT,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME, SERVICE_VERSION
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tierline_shared.logging import get_logger
from tierline_shared.messaging.cloudevents import TRACEPARENT, TRACESTATE

_log = get_logger(__name__)

# Probes and scrapes are not worth a trace (matched against scheme://host/path, no query).
EXCLUDED_URLS = r"^[a-z]+://[^/]+/(?:healthz|readyz|metrics)/?$"
# FastAPI's own (native) telemetry stays off: these spans come from the OpenTelemetry instrumentation,
# and its auto-configuration would add a second exporter to our provider.
FASTAPI_TELEMETRY_OFF: dict[str, Any] = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "auto_configure": False,
}
FLUSH_SECONDS = 5.0
QUERY_TEXT_LIMIT = 2048

_W3C = TraceContextTextMapPropagator()
_lock = threading.Lock()
_configured = False
_provider: TracerProvider | None = None
_owned = False  # we built it, so we shut it down
_exporting = False  # spans leave the process (or someone else's provider collects them)


def is_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _instruments(name: str) -> bool:
    """Whether spans of this instrumentation are wanted (the OpenTelemetry convention to turn one off)."""
    off = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return _provider is not None and name not in {n.strip().lower() for n in off.split(",")}


def configure(service: str, version: str) -> TracerProvider | None:
    """Install the process's tracer provider, once: later calls (tests build many apps) return it.

    None when ``OTEL_SDK_DISABLED=true``. A provider some other tool installed first is kept.
    """
    global _configured, _owned, _provider, _exporting
    with _lock:
        if _configured:
            return _provider
        _configured = True
        if is_disabled():
            return None
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            _provider, _exporting = current, True
            return current
        default = Resource.create({SERVICE_NAME: f"tierline-{service}", SERVICE_VERSION: version})
        # What the environment says (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) wins over our defaults.
        resource = default.merge(OTELResourceDetector().detect())
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        exporter = _exporter()
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _exporting = exporter is not None
        _provider, _owned = provider, True
        atexit.register(shutdown)
        return provider


def add_span_processor(processor: SpanProcessor) -> None:
    """Send spans somewhere else too (a test's in-memory exporter); SQL spans are made from now on."""
    global _exporting
    if _provider is None:
        raise RuntimeError("tracing is not configured (or disabled)")
    _provider.add_span_processor(processor)
    _exporting = True


def _exporter() -> Any:
    """OTLP/HTTP when an endpoint is configured; spans then leave the process in batches."""
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    ):
        return None
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if kind == "none":
        return None
    if kind != "otlp" or protocol != "http/protobuf":
        _log.warning(
            "traces_not_exported", reason="only OTLP over http/protobuf", exporter=kind, protocol=protocol
        )
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def instrument_app(app: FastAPI) -> None:
    """One SERVER span per request (none for probes and scrapes, none for each ASGI receive/send)."""
    if not _instruments("fastapi"):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    more = os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS") or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=f"{EXCLUDED_URLS},{more}" if more else EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
    )


def instrument_engine(engine: AsyncEngine) -> None:
    """A CLIENT span per SQL statement on this engine, when a span is recording (a request or an event).

    Engine-scoped SQLAlchemy events, no global patching; the pollers' idle queries outside any
    request or event make no spans at all. Parameters are never recorded, only the statement.
    Only when spans leave the process: nobody would see them otherwise, and they are two thirds
    of the tracing cost of a consumed event (request and event spans stay, for the logs' trace ids).
    """
    if _provider is None or not _exporting or not _instruments("sqlalchemy"):
        return
    url = engine.url
    base: dict[str, Any] = {DB_SYSTEM_NAME: "postgresql"}
    if url.database:
        base[DB_NAMESPACE] = url.database
    if url.host:
        base[SERVER_ADDRESS] = url.host
    if url.port:
        base[SERVER_PORT] = url.port
    tracer = _provider.get_tracer("tierline_shared.db")
    suffix = f" {url.database}" if url.database else ""

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if context is None or not trace.get_current_span().is_recording():
            return
        words = statement.split(None, 1)
        operation = words[0].upper() if words else "SQL"
        context._tierline_span = tracer.start_span(
            operation + suffix,
            kind=SpanKind.CLIENT,
            attributes={
                **base,
                DB_OPERATION_NAME: operation,
                DB_QUERY_TEXT: statement[:QUERY_TEXT_LIMIT],
            },
        )

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        span = getattr(context, "_tierline_span", None)
        if span is not None:
            context._tierline_span = None
            span.end()

    def failed(error: Any) -> None:
        context = error.execution_context
        span = getattr(context, "_tierline_span", None)
        if span is not None:
            context._tierline_span = None
            span.set_attribute(ERROR_TYPE, type(error.original_exception).__qualname__)
            span.set_status(StatusCode.ERROR, str(error.original_exception)[:200])
            span.end()

    sync: Engine = engine.sync_engine
    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)
    event.listen(sync, "handle_error", failed)


def event_headers() -> list[tuple[str, bytes]]:
    """The current span's W3C trace context as CloudEvents distributed-tracing headers (none without one)."""
    traceparent, tracestate = current_context()
    if traceparent is None:
        return []
    if tracestate:
        return [(TRACEPARENT, traceparent.encode()), (TRACESTATE, tracestate.encode())]
    return [(TRACEPARENT, traceparent.encode())]


def headers_for(traceparent: str | None) -> list[tuple[str, bytes]]:
    """The distributed-tracing header of a context kept earlier (a timer's), or the current one's."""
    return [(TRACEPARENT, traceparent.encode())] if traceparent else event_headers()


def current_context() -> tuple[str | None, str | None]:
    """The current span as W3C ``traceparent`` and ``tracestate`` values (None without a valid span)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


def context_from(traceparent: str | None, tracestate: str | None = None) -> Context:
    """The remote parent an event's ``ce_traceparent`` names; an empty context (a new trace) otherwise."""
    if not traceparent:
        return Context()
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _W3C.extract(carrier, context=Context())


async def flush(seconds: float = FLUSH_SECONDS) -> bool:
    """Export what is buffered; a collector that is away holds a service's stop up ``seconds`` at most."""
    if _provider is None:
        return True
    return await asyncio.to_thread(_within, seconds, _provider.force_flush)


def shutdown(seconds: float = FLUSH_SECONDS) -> None:
    """Flush and stop the exporter at process exit, bounded the same way (a provider we own only)."""
    if _provider is not None and _owned:
        _within(seconds, _provider.shutdown)


def _within(seconds: float, action: Callable[[], object]) -> bool:
    """Run a blocking export step on a daemon thread, waiting for it at most ``seconds``."""
    finished = threading.Event()

    def run() -> None:
        try:
            action()
        finally:
            finished.set()

    try:
        threading.Thread(target=run, name="tierline-trace-flush", daemon=True).start()
    except RuntimeError:  # no new threads at interpreter exit (3.12): the SDK's own bound applies
        run()
    return finished.wait(seconds)
