"""Prometheus metrics every service exposes at /metrics."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "tierline_events_published_total", "Events relayed from the outbox to Kafka", ["topic", "type"]
)
EVENTS_CONSUMED = Counter(
    "tierline_events_consumed_total",
    "Events consumed, by outcome (processed, duplicate, ignored, dead_lettered)",
    ["topic", "type", "outcome"],
)
OUTBOX_LAG = Gauge("tierline_outbox_unpublished", "Outbox rows not yet published")
HANDLER_SECONDS = Histogram("tierline_event_handler_seconds", "Time to apply one consumed event", ["type"])
HTTP_REQUESTS = Counter("tierline_http_requests_total", "HTTP requests served", ["method", "route", "status"])
CONSUMER_LAG = Gauge(
    "tierline_consumer_lag",
    "Records between a consumer's position and its partition's high watermark, after its last fetch",
    ["group", "topic", "partition"],
)
