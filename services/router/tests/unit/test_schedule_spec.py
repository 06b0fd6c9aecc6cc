"""Schedules as the file and the API write them: parsed to the domain, bad input named by its dotted field."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tierline_router.domain.catalog import Catalog
from tierline_router.domain.model import RoutingConfig
from tierline_router.domain.schedules import CalendarLayer, InvalidSchedule, Layer, Rotation, Shift, oncall
from tierline_router.domain.schedules.spec import LayerSpec, OverrideSpec, ScheduleSpec, ShiftSpec

WEEKLY: dict[str, Any] = {
    "name": "net",
    "timezone": "Europe/Berlin",
    "layers": [
        {
            "name": "weekly",
            "members": ["dave", "erin"],
            "rotation": "weekly",
            "handoff": "09:00",
            "start": "2026-01-05",
        }
    ],
}


def spec(**changes: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate({**WEEKLY, **changes})


def layer(**changes: Any) -> dict[str, Any]:
    return {**WEEKLY["layers"][0], **changes}


def refused(raw: dict[str, Any]) -> InvalidSchedule:
    with pytest.raises(InvalidSchedule) as caught:
        ScheduleSpec.model_validate(raw).to_domain()
    return caught.value


def test_a_rotating_layer_becomes_the_domain_layer_with_its_restrictions() -> None:
    office = layer(
        rotation="every 2 days",
        restrictions=[{"days": ["mon", "FRI"], "start": "09:00", "end": "24:00"}],
    )
    schedule = spec(layers=[office]).to_domain()
    (converted,) = schedule.layers
    assert isinstance(converted, Layer)
    assert converted.members == ("dave", "erin")
    assert converted.rotation == Rotation.days(2)
    assert (converted.handoff, converted.start) == (time(9), date(2026, 1, 5))
    (restriction,) = converted.restrictions
    assert (restriction.days, restriction.start, restriction.end) == (frozenset({0, 4}), time(9), time(0))
    assert str(schedule.timezone) == "Europe/Berlin"
    # dave's first week from Monday 5 January 09:00 CET, erin's the week after
    assert oncall(schedule, datetime(2026, 1, 5, 8, 0, tzinfo=UTC)) == "dave"
    assert oncall(schedule, datetime(2026, 1, 12, 8, 0, tzinfo=UTC)) == "erin"


def test_a_layer_of_shifts_becomes_a_calendar_layer_and_converts_back() -> None:
    start = datetime(2026, 12, 24, tzinfo=UTC)
    shifts = [{"person": "dave", "start": start.isoformat(), "end": (start + timedelta(days=3)).isoformat()}]
    schedule = spec(layers=[WEEKLY["layers"][0], {"name": "holidays", "shifts": shifts}]).to_domain()
    calendar = schedule.layers[1]
    assert calendar == CalendarLayer(
        "holidays", (Shift("dave", start, start + timedelta(days=3), "holidays"),)
    )
    assert LayerSpec.of_calendar(calendar).to_domain("layers.1") == calendar


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"layers": []}, "layers"),
        ({"layers": [layer(handoff="9:00")]}, "layers.0.handoff"),
        ({"layers": [layer(handoff="25:00")]}, "layers.0.handoff"),
        ({"layers": [layer(rotation="fortnightly")]}, "layers.0.rotation"),
        ({"layers": [layer(rotation="every 0 days")]}, "layers.0.rotation"),
        ({"layers": [layer(members=[])]}, "layers.0.members"),
        ({"layers": [layer(start=None)]}, "layers.0.start"),
        ({"layers": [{"name": "x"}]}, "layers.0.members"),
        (
            {"layers": [layer(restrictions=[{"days": [], "start": "09:00", "end": "17:00"}])]},
            "layers.0.restrictions.0.days",
        ),
        (
            {"layers": [layer(restrictions=[{"days": ["mon", "sunday"], "start": "09:00", "end": "17:00"}])]},
            "layers.0.restrictions.0.days.1",
        ),
        (
            {"layers": [layer(restrictions=[{"days": ["mon"], "start": "09:00", "end": "5pm"}])]},
            "layers.0.restrictions.0.end",
        ),
        ({"layers": [layer(), layer()]}, "layers.1.name"),
        ({"layers": [layer(shifts=[])]}, "layers.0"),
        ({"timezone": "Europe"}, "timezone"),  # a directory of zones: no IsADirectoryError
        ({"timezone": "America"}, "timezone"),
        ({"timezone": "Etc"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"timezone": "right/UTC"}, "timezone"),
        ({"layers": [layer(handoff="24:00")]}, "layers.0.handoff"),
        (
            {"layers": [layer(restrictions=[{"days": ["mon"], "start": "24:00", "end": "17:00"}])]},
            "layers.0.restrictions.0.start",
        ),
        ({"layers": [layer(), {"name": "holidays", "shifts": []}]}, "layers.1.shifts"),
        (
            {
                "layers": [
                    {
                        "name": "h",
                        "shifts": [
                            {
                                "person": "dave",
                                "start": "0001-01-01T00:30:00+01:00",
                                "end": "2026-01-01T00:00Z",
                            }
                        ],
                    }
                ]
            },
            "layers.0.shifts.0.start",
        ),
    ],
)
def test_bad_schedules_are_refused_naming_the_dotted_field(changes: dict[str, Any], field: str) -> None:
    error = refused({**WEEKLY, **changes})
    assert error.field == field, error
    assert error.extensions["errors"] == [
        {"field": field, "reason": error.reason, "pointer": "/" + field.replace(".", "/")}
    ]


def test_overlapping_imported_shifts_are_refused_naming_the_shift() -> None:
    at = "2026-12-24T00:00:00+01:00"
    shifts = [
        {"person": "dave", "start": at, "end": "2026-12-26T00:00:00+01:00"},
        {"person": "erin", "start": "2026-12-25T00:00:00+01:00", "end": "2026-12-27T00:00:00+01:00"},
    ]
    assert refused({**WEEKLY, "layers": [{"name": "h", "shifts": shifts}]}).field == "layers.0.shifts.1"


def test_a_handoff_in_the_spring_gap_is_resolved_by_the_documented_rule_not_refused() -> None:
    daily = spec(layers=[layer(rotation="daily", handoff="02:30", start="2026-03-28")]).to_domain()
    # Sunday 29 March 2026, 02:30 does not exist in Berlin: the turn passes at 03:00 CEST (01:00 UTC)
    assert oncall(daily, datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) == "dave"
    assert oncall(daily, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == "erin"


def test_overrides_keep_to_the_domain_limits_and_need_offsets() -> None:
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    ok = OverrideSpec(person="erin", start=start, end=start + timedelta(hours=8))
    assert ok.to_domain().person == "erin"
    for end, field in [(start, "end"), (start + timedelta(days=367), "end")]:
        with pytest.raises(InvalidSchedule) as caught:
            OverrideSpec(person="erin", start=start, end=end).to_domain()
        assert caught.value.field == field
    with pytest.raises(ValidationError) as invalid:
        OverrideSpec.model_validate({"person": "erin", "start": "2026-12-01T09:00:00", "end": start})
    assert invalid.value.errors()[0]["loc"] == ("start",)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("0001-01-01T00:30:00+01:00", "2026-01-01T00:00:00Z", "start"),  # before year 1 in UTC
        ("2026-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00", "end"),  # after year 9999 in UTC
    ],
)
def test_override_instants_out_of_the_years_answered_are_refused_not_overflowed(
    start: str, end: str, field: str
) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        OverrideSpec.model_validate({"person": "erin", "start": start, "end": end}).to_domain()
    assert caught.value.field == field


def test_with_layer_replaces_the_layer_of_that_name_or_puts_it_on_top() -> None:
    piece = ShiftSpec(
        person="dave", start=datetime(2026, 12, 24, tzinfo=UTC), end=datetime(2026, 12, 25, tzinfo=UTC)
    )
    holidays = LayerSpec(name="holidays", shifts=[piece])
    once = spec().with_layer(holidays)
    assert [x.name for x in once.layers] == ["weekly", "holidays"]
    again = once.with_layer(LayerSpec(name="weekly", shifts=[piece]))
    assert [(x.name, x.shifts) for x in again.layers] == [("weekly", [piece]), ("holidays", [piece])]
    assert "name" not in spec().stored() and spec().stored()["timezone"] == "Europe/Berlin"


# --- the policy file -------------------------------------------------------------------------------


def policy(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "agents": [{"name": n} for n in ("ann", "dave", "erin")],
        "queues": [
            {"name": "desk", "tier": "L1", "agents": ["ann"]},
            {
                "name": "net",
                "tier": "L2",
                "agents": ["dave", "erin"],
                "schedule": "net",
                "handover": "reassign",
            },
            {"name": "experts", "tier": "L3", "agents": ["dave"]},
        ],
        "escalation_policies": [{"name": "all", "ladder": [{"tier": "L1"}]}],
        "schedules": [WEEKLY],
    }
    return {**raw, **changes}


def test_the_policy_file_holds_schedules_and_queues_naming_them() -> None:
    config = RoutingConfig.model_validate(policy())
    (net,) = [q for q in config.queues if q.name == "net"]
    assert (net.schedule, net.handover) == ("net", "reassign")
    assert [q.handover for q in config.queues] == ["keep", "reassign", "keep"]
    assert config.schedules[0].to_domain().name == "net"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedules": []}, "queues.1.schedule: there is no schedule 'net'"),
        (
            {"schedules": [{**WEEKLY, "layers": [layer(members=["dave", "ann"])]}]},
            "schedules.0.layers.0.members.1: 'ann' is not a member of queue 'net'",
        ),
        ({"schedules": [{**WEEKLY, "timezone": "Nowhere/Land"}]}, "schedules.0.timezone"),
        ({"schedules": [{**WEEKLY, "timezone": "Europe"}]}, "schedules.0.timezone: 'Europe' is not"),
        ({"schedules": [WEEKLY, WEEKLY]}, "schedule 'net' appears twice"),
    ],
)
def test_the_policy_file_is_checked_as_a_whole(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        RoutingConfig.model_validate(policy(**changes))
    assert message in str(invalid.value)


def test_the_shipped_policy_file_has_office_hours_and_weekly_rotations() -> None:
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[4] / "deploy" / "config" / "router.yaml"
    config = RoutingConfig.model_validate(yaml.safe_load(shipped.read_text()))
    schedules = {s.name: s.to_domain() for s in config.schedules}
    office = schedules["l1-office-hours"]
    monday_10 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 10:00 CET
    assert oncall(office, monday_10) is not None
    assert oncall(office, monday_10 + timedelta(hours=8)) is None  # 18:00: the desk is closed
    assert oncall(office, datetime(2026, 12, 5, 10, tzinfo=UTC)) is None  # a Saturday
    queues = {q.name: q for q in config.queues}
    assert queues["service-desk"].schedule is None  # every incident finds someone at L1
    catalog = Catalog(
        agents={a.name: a for a in config.agents},
        queues=config.queues,
        policies=config.escalation_policies,
        schedules=schedules,
    )
    people = {catalog.oncall(queues["network-ops"], monday_10 + timedelta(days=7 * n)) for n in range(2)}
    assert people == {"dave", "erin"}  # a week each


def test_a_queue_on_a_schedule_offers_only_the_member_on_call() -> None:
    config = RoutingConfig.model_validate(policy())
    catalog = Catalog(
        agents={a.name: a for a in config.agents},
        queues=config.queues,
        policies=config.escalation_policies,
        schedules={"net": config.schedules[0].to_domain()},
    )
    net = catalog.queue("net")
    assert net is not None
    first_week = datetime(2026, 1, 6, tzinfo=UTC)
    assert [c.name for c in catalog.candidates(net, {}, first_week)] == ["dave"]
    assert [c.name for c in catalog.candidates(net, {}, first_week + timedelta(days=7))] == ["erin"]
    assert catalog.candidates(net, {}, datetime(2025, 12, 1, tzinfo=UTC)) == []  # before the first turn
    desk = catalog.queue("desk")
    assert desk is not None and [c.name for c in catalog.candidates(desk, {}, None)] == ["ann"]
    with pytest.raises(ValueError, match="needs the time"):
        catalog.candidates(net, {}, None)
