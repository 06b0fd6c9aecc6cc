"""Kafka topics, one per publishing service; ``<topic>.dlq`` holds what a consumer could not process."""

INCIDENTS = "tierline.incidents"
ROUTING = "tierline.routing"
SLA = "tierline.sla"
VENDOR = "tierline.vendor"
# API keys issued by intake (hash and scopes only), copied by every service.
ACCESS = "tierline.access"

ALL = (INCIDENTS, ROUTING, SLA, VENDOR, ACCESS)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"
