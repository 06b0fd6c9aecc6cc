"""Event contracts: every type is versioned, routed to its publisher's topic, and documented."""

from pathlib import Path

from tierline_shared import asyncapi
from tierline_shared.events import IncidentEvent, registered_types, topics

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
REQUIRED = {
    "tierline.incident.created.v1",
    "tierline.incident.assigned.v1",
    "tierline.incident.escalated.v1",
    "tierline.incident.acknowledged.v1",
    "tierline.incident.resolved.v1",
    "tierline.sla.breached.v1",
    "tierline.vendor.case_opened.v1",
    "tierline.vendor.case_resolved.v1",
}

# State of a vendor rather than of an incident: ordered per vendor, keyed by its name.
KEYED_BY_VENDOR = {"tierline.vendor.changed.v1"}
# State of an on-call schedule: ordered per schedule, keyed by its name.
KEYED_BY_SCHEDULE = {
    "tierline.schedule.changed.v1",
    "tierline.oncall.shift_started.v1",
    "tierline.oncall.shift_ended.v1",
}


def test_the_skeleton_events_exist_and_are_versioned() -> None:
    types = registered_types()
    assert set(types) >= REQUIRED
    for event_type, cls in types.items():
        assert event_type.rsplit(".", 1)[-1].startswith("v"), event_type
        assert cls.topic in topics.ALL
        if cls.topic != topics.ACCESS and event_type not in KEYED_BY_VENDOR | KEYED_BY_SCHEDULE:
            assert issubclass(cls, IncidentEvent), event_type


def test_vendor_announcements_are_keyed_by_the_vendor_and_carry_no_secret() -> None:
    types = registered_types()
    for event_type in KEYED_BY_VENDOR:
        cls = types[event_type]
        assert not issubclass(cls, IncidentEvent) and "vendor" in cls.model_fields
        assert not {"secrets", "callback_secrets", "webhook_url"} & set(cls.model_fields)


def test_schedule_events_are_keyed_by_the_schedule() -> None:
    types = registered_types()
    for event_type in KEYED_BY_SCHEDULE:
        cls = types[event_type]
        assert not issubclass(cls, IncidentEvent) and "schedule" in cls.model_fields
        assert cls.topic == topics.ROUTING


def test_each_topic_has_one_publisher() -> None:
    by_topic = {}
    for event_type, cls in registered_types().items():
        by_topic.setdefault(cls.topic, set()).add(event_type.split(".")[1])
    assert by_topic[topics.SLA] == {"sla"}
    assert by_topic[topics.VENDOR] == {"vendor"}


def test_committed_asyncapi_document_is_current() -> None:
    assert DOC.read_text() == asyncapi.render(), (
        "run: python -m tierline_shared.asyncapi > docs/asyncapi.yaml"
    )
