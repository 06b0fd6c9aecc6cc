"""An incident's type: incident (the default) or service_request, set at birth and changed by an edit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from tierline_intake.config import DEFAULT_MATRIX
from tierline_intake.domain.incident import INCIDENT_TYPES, Incident
from tierline_intake.domain.lifecycle import IllegalTransition
from tierline_intake.domain.priority import PriorityDecision
from tierline_shared.errors import InvalidInput
from tierline_shared.events import IncidentCreated, IncidentUpdated
from tierline_shared.events.base import parse_event
from tierline_shared.events.incidents import IncidentType

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MATRIX = DEFAULT_MATRIX.matrix


def new(**overrides: object) -> Incident:
    fields: dict = {
        "id": uuid.uuid4(),
        "title": "VPN down",
        "description": "",
        "service": "vpn",
        "category": "network",
        "channel": "web",
        "reporter": "alice@example.com",
        "decision": PriorityDecision("P2", "explicit"),
        "now": T0,
        **overrides,
    }
    return Incident.create(**fields)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_service_request_says_so_at_birth() -> None:
    incident = new(type="service_request")
    happened = incident.created()
    assert happened.summary == "Created a service request via web by alice@example.com as P2 (explicit)"
    assert happened.data is not None and happened.data["type"] == "service_request"
    assert isinstance(happened.event, IncidentCreated)
    assert happened.event.type == "service_request"


def test_an_unknown_type_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        new(type="change")
    assert refused.value.extensions["errors"][0]["field"] == "type"
    with pytest.raises(InvalidInput):
        new().update({"type": "problem"}, by=None, matrix=MATRIX, now=at(1))


def test_changing_the_type_is_an_edit_with_the_type_after_it_in_the_event() -> None:
    incident = new()
    happened = incident.update({"type": "service_request"}, by="bob", matrix=MATRIX, now=at(1))
    assert happened is not None
    assert incident.type == "service_request"
    assert happened.summary == "Updated: type 'incident' -> 'service_request'"
    assert happened.data == {"type": {"old": "incident", "new": "service_request"}}
    event = happened.event
    assert isinstance(event, IncidentUpdated)
    assert (event.changes["type"].old, event.changes["type"].new) == ("incident", "service_request")
    assert (event.type, event.priority) == ("service_request", "P2")


def test_an_edit_of_something_else_carries_the_unchanged_type() -> None:
    incident = new(type="service_request")
    happened = incident.update({"title": "Reset my password"}, by=None, matrix=MATRIX, now=at(1))
    assert happened is not None and isinstance(happened.event, IncidentUpdated)
    assert set(happened.event.changes) == {"title"}
    assert happened.event.type == "service_request"
    assert (
        new(type="service_request").update({"type": "service_request"}, by=None, matrix=MATRIX, now=at(1))
        is None
    )


def test_a_resolved_incident_cannot_change_type() -> None:
    incident = new()
    incident.resolve(now=at(10))
    with pytest.raises(IllegalTransition, match="reopen it first"):
        incident.update({"type": "service_request"}, by=None, matrix=MATRIX, now=at(20))
    assert incident.type == "incident"


@pytest.mark.parametrize("event_type", ["tierline.incident.created.v1", "tierline.incident.updated.v1"])
def test_a_payload_from_before_types_reads_as_an_incident(event_type: str) -> None:
    incident = new(type="service_request")
    happened = (
        incident.created()
        if event_type.endswith("created.v1")
        else incident.update({"title": "x"}, by=None, matrix=MATRIX, now=at(1))
    )
    assert happened is not None and happened.event is not None
    payload = happened.event.model_dump(mode="json")
    assert payload.pop("type") == "service_request"
    parsed = parse_event(event_type, payload)
    assert isinstance(parsed, IncidentCreated | IncidentUpdated)
    assert parsed.type == "incident"


def test_the_domain_knows_exactly_the_contract_s_types() -> None:
    assert set(INCIDENT_TYPES) == set(get_args(IncidentType))
