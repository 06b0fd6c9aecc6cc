"""The notifier's metrics: messages by channel and outcome, send latency, the queue by status."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NOTIFICATIONS = Counter(
    "tierline_notifications_total",
    "Messages by channel and outcome (sent, retried, dead, skipped, cancelled)",
    ["channel", "outcome"],
)
SEND_SECONDS = Histogram(
    "tierline_notification_send_seconds",
    "How long handing one message to its channel took",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE = Gauge("tierline_notification_log", "Messages in the notification log by status", ["status"])
