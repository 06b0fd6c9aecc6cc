"""The incident brief a vendor reads on handoff: fields, tier history, a short timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tierline_shared.events import IncidentAssigned, IncidentCreated, IncidentEscalated, IncidentUpdated
from tierline_shared.events.incidents import FieldChange
from tierline_vendor_gateway.domain.snapshot import TIMELINE_KEPT, IncidentBrief

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ID = uuid.uuid4()


def created() -> IncidentCreated:
    return IncidentCreated(
        incident_id=ID,
        title="Switch down",
        service="network",
        category="network",
        priority="P1",
        channel="monitoring",
        reporter="zabbix",
        created_at=T0,
    )


def assigned(at: datetime, assignee: str | None = "ana") -> IncidentAssigned:
    return IncidentAssigned(incident_id=ID, tier="L1", queue="net-l1", assignee=assignee, assigned_at=at)


def escalated(at: datetime, **kw: object) -> IncidentEscalated:
    return IncidentEscalated(
        incident_id=ID, from_tier="L3", to_tier="L4", reason="sla_breach", escalated_at=at, **kw
    )  # type: ignore[arg-type]


def test_an_empty_brief_still_names_the_incident() -> None:
    assert IncidentBrief(ID).for_vendor() == {"id": str(ID), "tier_history": [], "timeline": []}


def test_the_created_incident_fills_the_brief() -> None:
    brief = IncidentBrief(ID)
    brief.remember_created(created())
    shown = brief.for_vendor()
    assert (shown["title"], shown["priority"], shown["created_at"]) == (
        "Switch down",
        "P1",
        "2026-11-23T09:00:00Z",
    )
    assert "incident_id" not in shown
    assert shown["timeline"] == [
        {"at": T0.isoformat(), "kind": "created", "summary": "Opened via monitoring by zabbix"}
    ]


def test_moves_build_the_tier_history() -> None:
    brief = IncidentBrief(ID)
    brief.remember_move(assigned(T0, assignee=None))
    brief.remember_move(escalated(T0 + timedelta(hours=1), note="needs the vendor", queue="vendors"))
    history = brief.for_vendor()["tier_history"]
    assert [(s["tier"], s["queue"], s["reason"]) for s in history] == [
        ("L1", "net-l1", "routed"),
        ("L4", "vendors", "sla_breach"),
    ]
    assert [(e["kind"], e["summary"]) for e in brief.data["timeline"]] == [
        ("assigned", "L1 net-l1: waiting"),
        ("escalated", "L3 -> L4 (sla_breach): needs the vendor"),
    ]


def test_a_de_escalation_is_noted_as_such() -> None:
    brief = IncidentBrief(ID)
    brief.remember_move(escalated(T0, direction="down"))
    assert brief.data["timeline"][0]["kind"] == "de_escalated"


def test_updates_change_only_brief_fields() -> None:
    brief = IncidentBrief(ID)
    brief.remember_created(created())
    brief.remember_update(
        IncidentUpdated(
            incident_id=ID,
            changes={"priority": FieldChange(old="P1", new="P2"), "assignee": FieldChange(old=None, new="x")},
            priority="P2",
            service="network",
            category="network",
            updated_at=T0 + timedelta(minutes=3),
        )
    )
    assert brief.data["priority"] == "P2" and "assignee" not in brief.data
    assert brief.data["timeline"][-1]["summary"] == "Changed assignee, priority"


def test_only_the_latest_timeline_entries_are_kept() -> None:
    brief = IncidentBrief(ID)
    for minute in range(TIMELINE_KEPT + 5):
        brief.remember_move(assigned(T0 + timedelta(minutes=minute)))
    timeline = brief.data["timeline"]
    assert len(timeline) == TIMELINE_KEPT
    assert timeline[-1]["at"] == (T0 + timedelta(minutes=TIMELINE_KEPT + 4)).isoformat()


def test_the_stored_document_is_replaced_not_mutated() -> None:
    stored: dict[str, object] = {}
    brief = IncidentBrief(ID, stored)
    brief.remember_created(created())
    assert stored == {} and brief.data is not stored
