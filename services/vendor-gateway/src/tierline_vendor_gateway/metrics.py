"""The vendor gateway's Prometheus metrics: deliveries by outcome, attempt latency, queue depth."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "tierline_vendor_deliveries_total",
    "Delivery attempts by outcome (delivered, retrying, dead)",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "tierline_vendor_attempt_seconds",
    "Time of one webhook attempt, by vendor",
    ["vendor"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE = Gauge(
    "tierline_vendor_delivery_queue",
    "Deliveries by status (pending is the queue, dead the dead letters)",
    ["status"],
)

# Every outcome exists from the start at 0: Prometheus' increase() sees the first dead delivery
# as a step from 0, not as a new series starting at 1 (which alerts would miss).
for _outcome in ("delivered", "retrying", "dead"):
    DELIVERIES.labels(_outcome)


def delivered(outcome: str) -> None:
    DELIVERIES.labels(outcome).inc()
