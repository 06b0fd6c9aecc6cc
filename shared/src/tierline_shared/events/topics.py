"""Kafka topics, one per publishing service; ``<topic>.dlq`` holds what a consumer could not process."""

INCIDENTS = "tierline.incidents"
ROUTING = "tierline.routing"
SLA = "tierline.sla"
VENDOR = "tierline.vendor"

ALL = (INCIDENTS, ROUTING, SLA, VENDOR)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"
