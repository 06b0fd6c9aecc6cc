"""Kafka topics, one per publishing service; ``<topic>.dlq`` holds what a consumer could not process."""

INCIDENTS = "tierline.incidents"
ROUTING = "tierline.routing"
SLA = "tierline.sla"
VENDOR = "tierline.vendor"
# What the notifier sent to whom (and what it could not), for intake's timeline.
NOTIFICATIONS = "tierline.notifications"
# API keys issued by intake (hash and scopes only), copied by every service.
ACCESS = "tierline.access"

ALL = (INCIDENTS, ROUTING, SLA, VENDOR, NOTIFICATIONS, ACCESS)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"
