"""SLA policies that match on the incident's type, through the handlers the consumer calls.

A service request (password reset, access) gets the ``requests`` policy (24x7: respond in 1 h,
fulfil in 8 h) ahead of the per-priority ones; an incident of the same priority keeps P3's office
hours. A type change re-picks the policy as a priority change does: time already spent counts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tierline_shared.events import (
    Envelope,
    Event,
    FieldChange,
    IncidentCreated,
    IncidentUpdated,
    SlaRecalculated,
)
from tierline_sla_monitor.adapters.orm import IncidentRow
from tierline_sla_monitor.domain.policy import SlaConfig
from tierline_sla_monitor.entrypoints import handlers
from tierline_sla_monitor.service_layer import catalog

from .conftest import ENGINE_CONFIG

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday, 10:00 in Berlin
H = timedelta(hours=1)
M = timedelta(minutes=1)
REQUESTS = {"name": "requests", "types": ["service_request"], "response": "1h", "resolution": "8h"}


@pytest.fixture
async def typed(harness) -> Any:
    config = SlaConfig.model_validate(
        {
            **ENGINE_CONFIG.model_dump(mode="json"),
            "policies": [REQUESTS, *ENGINE_CONFIG.model_dump(mode="json")["policies"]],
        }
    )
    await harness.run(catalog.apply_config, config, T0)
    return harness


def created(type_: str | None, priority: str = "P3") -> IncidentCreated:
    fields: dict[str, Any] = {} if type_ is None else {"type": type_}
    return IncidentCreated(
        incident_id=uuid.uuid4(),
        title="Password reset for bob",
        service="identity",
        category="account",
        priority=priority,
        channel="web",
        reporter="bob@example.com",
        created_at=T0,
        **fields,
    )


def updated(incident_id: uuid.UUID, at: datetime, changes: dict[str, tuple], **after: Any) -> IncidentUpdated:
    """An edit as intake announces it; ``type=None`` leaves the type out, as payloads before types did."""
    state = {"priority": "P3", "service": "identity", "category": "account", "type": "incident", **after}
    return IncidentUpdated(
        incident_id=incident_id,
        changes={k: FieldChange(old=old, new=new) for k, (old, new) in changes.items()},
        updated_at=at,
        **{k: v for k, v in state.items() if v is not None},
    )


async def consume(harness, event: Event) -> None:
    await harness.run(handlers.bind(harness.deps)[type(event)], Envelope(event, "/tierline/intake"))


async def policies_and_due(harness, incident_id: uuid.UUID) -> dict[str, tuple]:
    return {k: (r.policy, r.due_at) for k, r in (await harness.clocks(incident_id)).items()}


async def known_type(harness, incident_id: uuid.UUID) -> str | None:
    async with harness.sessions() as session:
        return await session.scalar(select(IncidentRow.type).where(IncidentRow.incident_id == incident_id))


async def test_a_service_request_gets_the_types_policy_and_an_incident_its_priority_s(typed) -> None:
    request, incident, old = created("service_request"), created("incident"), created(None)
    for event in (request, incident, old):
        await consume(typed, event)
    assert await policies_and_due(typed, request.incident_id) == {
        "response": ("requests", T0 + H),
        "resolution": ("requests", T0 + 8 * H),
    }
    assert {p for p, _ in (await policies_and_due(typed, incident.incident_id)).values()} == {"p3"}
    # a payload from before types existed is an incident
    assert {p for p, _ in (await policies_and_due(typed, old.incident_id)).values()} == {"p3"}
    assert await known_type(typed, request.incident_id) == "service_request"


async def test_a_type_change_re_picks_the_policy_counting_the_time_spent(typed) -> None:
    event = created("incident")
    await consume(typed, event)
    iid = event.incident_id
    await typed.new_events()
    # another field's edit leaves the policy as it is
    await consume(typed, updated(iid, T0 + 10 * M, {"title": ("a", "b")}))
    assert await typed.new_events() == []
    assert {p for p, _ in (await policies_and_due(typed, iid)).values()} == {"p3"}

    changed = T0 + 30 * M  # 30 business minutes spent on office hours (10:00-10:30 in Berlin)
    typed.at(changed)
    await consume(
        typed, updated(iid, changed, {"type": ("incident", "service_request")}, type="service_request")
    )
    assert await policies_and_due(typed, iid) == {
        "response": ("requests", T0 + H),  # 1 h target, 30 min spent
        "resolution": ("requests", T0 + 8 * H),
    }
    recalculated = await typed.new_events()
    assert sorted(e.clock for e in recalculated) == ["resolution", "response"]
    assert all(isinstance(e, SlaRecalculated) and "requests" in e.reason for e in recalculated)
    assert await known_type(typed, iid) == "service_request"

    # a later priority change from a payload without the type keeps the type known: still requests
    later = T0 + 40 * M
    typed.at(later)
    await consume(typed, updated(iid, later, {"priority": ("P3", "P2")}, priority="P2", type=None))
    assert {p for p, _ in (await policies_and_due(typed, iid)).values()} == {"requests"}
    # and back to an incident: P2's own policy (24x7, 30 min / 8 h)
    back = T0 + 50 * M
    typed.at(back)
    await consume(typed, updated(iid, back, {"type": ("service_request", "incident")}, priority="P2"))
    assert {p for p, _ in (await policies_and_due(typed, iid)).values()} == {"p2"}
