"""Fixtures of the shared package's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tierline_shared import tracing


class _WhileRecording(SimpleSpanProcessor):
    """Exports only while a test holds the ``spans`` fixture: the rest of the session keeps no spans."""

    recording = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            super().on_end(span)


_processor: _WhileRecording | None = None


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans this test finishes, as the process's tracer provider (``tracing.configure``) makes them."""
    global _processor
    if _processor is None:
        provider = tracing.configure("shared-tests", "0")
        if provider is None:
            pytest.skip("tracing is disabled here (OTEL_SDK_DISABLED=true)")
        _processor = _WhileRecording(InMemorySpanExporter())
        tracing.add_span_processor(_processor)
    exporter = _processor.span_exporter
    assert isinstance(exporter, InMemorySpanExporter)
    exporter.clear()
    _processor.recording = True
    try:
        yield exporter
    finally:
        _processor.recording = False
        exporter.clear()
