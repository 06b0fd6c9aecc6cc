"""CloudEvents 1.0 Kafka protocol binding, binary content mode.

Context attributes travel as ``ce_``-prefixed headers, ``data`` is the record
value as JSON, ``content-type`` says so, and the record key is the incident id so
one incident's events stay ordered in one partition.

The distributed-tracing extension travels along as ``ce_traceparent`` / ``ce_tracestate`` (W3C
trace context, see ``tierline_shared.tracing``); it describes the delivery, not the event, so
``decode`` leaves it out of the envelope.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierline_shared.events.base import Envelope, parse_event

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type")
TRACEPARENT = "ce_traceparent"
TRACESTATE = "ce_tracestate"
TRACING_EXTENSION = (TRACEPARENT, TRACESTATE)


class MalformedCloudEvent(ValueError):
    """A record that is not a binary-mode CloudEvent we can read."""


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode(envelope: Envelope) -> KafkaRecord:
    headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(envelope.id).encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_type", envelope.type.encode()),
        ("ce_time", envelope.time.isoformat().encode()),
        ("ce_subject", envelope.subject.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    value = envelope.data.model_dump_json().encode()
    return KafkaRecord(envelope.topic, envelope.subject.encode(), value, headers)


def read_headers(raw: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw or ():
        try:
            headers[name] = value.decode() if isinstance(value, bytes | bytearray) else str(value)
        except UnicodeDecodeError as exc:
            if name in TRACING_EXTENSION:
                continue  # trace context is advisory: a garbled one is dropped, the event still applies
            raise MalformedCloudEvent(f"header {name} is not UTF-8") from exc
    return headers


def decode(headers_raw: Any, value: bytes | None) -> Envelope:
    """Read a binary-mode CloudEvent; raise MalformedCloudEvent or a validation error."""
    headers = read_headers(headers_raw)
    missing = [h for h in _REQUIRED if h not in headers]
    if missing:
        raise MalformedCloudEvent(f"missing CloudEvents headers: {', '.join(missing)}")
    if headers["ce_specversion"] != SPEC_VERSION:
        raise MalformedCloudEvent(f"unsupported specversion {headers['ce_specversion']}")
    content_type = headers.get("content-type", CONTENT_TYPE)
    if not content_type.startswith(CONTENT_TYPE):
        raise MalformedCloudEvent(f"unsupported content-type {content_type}")
    try:
        payload = json.loads(value or b"null")
        event_id = uuid.UUID(headers["ce_id"])
        time = datetime.fromisoformat(headers["ce_time"]) if "ce_time" in headers else None
    except ValueError as exc:
        raise MalformedCloudEvent(str(exc)) from exc
    if not isinstance(payload, dict):
        raise MalformedCloudEvent("data is not a JSON object")
    data = parse_event(headers["ce_type"], payload)
    if time is None:
        return Envelope(data=data, source=headers["ce_source"], id=event_id)
    return Envelope(data=data, source=headers["ce_source"], id=event_id, time=time)
