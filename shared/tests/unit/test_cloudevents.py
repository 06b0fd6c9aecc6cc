import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tierline_shared.events import Envelope, IncidentCreated, IncidentEscalated, UnknownEventType, topics
from tierline_shared.events.base import parse_event, upcaster
from tierline_shared.messaging import cloudevents

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def _created() -> IncidentCreated:
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="Mail down",
        service="mail",
        category="email",
        priority="P2",
        channel="web",
        reporter="ann",
        created_at=NOW,
    )


def test_binary_mode_headers_and_key() -> None:
    event = _created()
    envelope = Envelope(data=event, source="/tierline/intake", time=NOW)
    record = cloudevents.encode(envelope)
    headers = dict(record.headers)
    assert record.topic == topics.INCIDENTS
    assert record.key == str(event.incident_id).encode()
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == str(envelope.id).encode()
    assert headers["ce_type"] == b"tierline.incident.created.v1"
    assert headers["ce_source"] == b"/tierline/intake"
    assert headers["ce_subject"] == str(event.incident_id).encode()
    assert headers["content-type"] == b"application/json"
    assert datetime.fromisoformat(headers["ce_time"].decode()) == NOW


def test_round_trip_preserves_event_and_context() -> None:
    envelope = Envelope(data=_created(), source="/tierline/intake", time=NOW)
    record = cloudevents.encode(envelope)
    decoded = cloudevents.decode(record.headers, record.value)
    assert decoded == envelope


def test_missing_ce_header_is_malformed() -> None:
    record = cloudevents.encode(Envelope(data=_created(), source="/x"))
    headers = [(k, v) for k, v in record.headers if k != "ce_type"]
    with pytest.raises(cloudevents.MalformedCloudEvent, match="ce_type"):
        cloudevents.decode(headers, record.value)


def test_unknown_type_is_reported_as_such() -> None:
    record = cloudevents.encode(Envelope(data=_created(), source="/x"))
    headers = [(k, b"tierline.nothing.v9" if k == "ce_type" else v) for k, v in record.headers]
    with pytest.raises(UnknownEventType):
        cloudevents.decode(headers, record.value)


def test_invalid_payload_fails_validation() -> None:
    record = cloudevents.encode(Envelope(data=_created(), source="/x"))
    with pytest.raises(ValidationError):
        cloudevents.decode(record.headers, b'{"incident_id": "not-a-uuid"}')


def test_non_json_value_is_malformed() -> None:
    record = cloudevents.encode(Envelope(data=_created(), source="/x"))
    with pytest.raises(cloudevents.MalformedCloudEvent):
        cloudevents.decode(record.headers, b"\x00garbage")


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    event = _created()
    payload = event.model_dump(mode="json") | {"added_in_a_later_minor": 1}
    assert parse_event("tierline.incident.created.v1", payload) == event


def test_upcaster_turns_an_old_version_into_the_current_contract() -> None:
    incident_id = uuid.uuid4()

    @upcaster("tierline.test.escalated.v0")
    def _v0_to_v1(old: dict) -> tuple[str, dict]:
        return "tierline.incident.escalated.v1", {
            "incident_id": old["id"],
            "from_tier": old["from"],
            "to_tier": old["to"],
            "reason": "manual",
            "escalated_at": old["at"],
        }

    event = parse_event(
        "tierline.test.escalated.v0",
        {"id": str(incident_id), "from": "L1", "to": "L2", "at": NOW.isoformat()},
    )
    assert isinstance(event, IncidentEscalated)
    assert (event.incident_id, event.from_tier, event.to_tier) == (incident_id, "L1", "L2")
