"""Unit and property tests of on-call schedules: rotations, restrictions, overrides and DST days."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierline_router.domain.schedules import (
    END_OF_TIME,
    OVERRIDE,
    CalendarLayer,
    InvalidSchedule,
    Layer,
    Override,
    Restriction,
    Rotation,
    Schedule,
    Shift,
    model,
    oncall,
    parse_clock,
    parse_days,
    parse_rotation,
    parse_zone,
    resolve,
    shifts,
    until,
    validate,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
UTC_ZONE = ZoneInfo("UTC")
WEEKDAYS_ONLY = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


def _at(zone: ZoneInfo, *parts: int) -> datetime:
    """A wall time in ``zone`` that exists and is not ambiguous (the examples pick such times)."""
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def _z(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _layer(
    name: str,
    members: tuple[str, ...],
    rotation: Rotation,
    handoff: time,
    start: date,
    restrictions: tuple[Restriction, ...] = (),
) -> Layer:
    return Layer(name, members, rotation, handoff, start, restrictions)


L2_WEEKLY = _layer("l2", ("ann", "bob", "cy"), Rotation.weekly(), time(9), date(2026, 1, 5))


def _weekly(*overrides: Override) -> Schedule:
    return Schedule("l2", BERLIN, (L2_WEEKLY,), overrides)


# -- weekly rotation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "person"),
    [
        (_at(BERLIN, 2026, 1, 5, 8, 59), None),  # before the first handoff
        (_at(BERLIN, 2026, 1, 5, 9, 0), "ann"),
        (_at(BERLIN, 2026, 1, 12, 8, 59), "ann"),
        (_at(BERLIN, 2026, 1, 12, 9, 0), "bob"),
        (_at(BERLIN, 2026, 1, 19, 9, 0), "cy"),
        (_at(BERLIN, 2026, 1, 26, 9, 0), "ann"),  # round again
        (_z(2026, 1, 26, 8, 0), "ann"),  # the same instant, asked in UTC
    ],
)
def test_a_weekly_rotation_hands_off_each_monday_at_nine(at: datetime, person: str | None) -> None:
    assert oncall(_weekly(), at) == person


def test_weekly_shifts_of_three_people_in_a_month() -> None:
    got = shifts(_weekly(), _at(BERLIN, 2026, 1, 5), _at(BERLIN, 2026, 2, 2))
    assert got == [
        Shift("ann", _z(2026, 1, 5, 8), _z(2026, 1, 12, 8), "l2"),
        Shift("bob", _z(2026, 1, 12, 8), _z(2026, 1, 19, 8), "l2"),
        Shift("cy", _z(2026, 1, 19, 8), _z(2026, 1, 26, 8), "l2"),
        Shift("ann", _z(2026, 1, 26, 8), _z(2026, 2, 1, 23), "l2"),  # clipped to the range
    ]


def test_a_week_is_seven_local_days_across_spring_forward() -> None:
    got = shifts(_weekly(), _at(BERLIN, 2026, 3, 23, 12), _at(BERLIN, 2026, 4, 6, 12))
    # Monday 09:00 stays Monday 09:00: 08:00Z in winter, 07:00Z in summer, a 167-hour week between.
    assert [(s.start, s.end) for s in got] == [
        (_z(2026, 3, 23, 11), _z(2026, 3, 30, 7)),
        (_z(2026, 3, 30, 7), _z(2026, 4, 6, 7)),
        (_z(2026, 4, 6, 7), _z(2026, 4, 6, 10)),
    ]
    assert got[1].end - got[1].start == timedelta(hours=168)


# -- layers and restrictions -----------------------------------------------------------------

OFFICE = Restriction(WEEKDAYS_ONLY, time(9), time(17))
OFFICE_HOURS = Schedule(
    "support",
    BERLIN,
    (
        _layer("around-the-clock", ("ops",), Rotation.daily(), time(0), date(2026, 1, 1)),
        _layer("l1", ("lia", "leo"), Rotation.daily(), time(9), date(2026, 1, 5), (OFFICE,)),
    ),
)


@pytest.mark.parametrize(
    ("at", "person"),
    [
        (_at(BERLIN, 2026, 1, 5, 10), "lia"),
        (_at(BERLIN, 2026, 1, 5, 16, 59), "lia"),
        (_at(BERLIN, 2026, 1, 5, 17), "ops"),  # end of the office day
        (_at(BERLIN, 2026, 1, 6, 8, 59), "ops"),
        (_at(BERLIN, 2026, 1, 6, 10), "leo"),
        (_at(BERLIN, 2026, 1, 7, 10), "lia"),
        (_at(BERLIN, 2026, 1, 10, 12), "ops"),  # Saturday: the L1 layer has nobody
    ],
)
def test_an_office_hours_layer_wins_over_the_round_the_clock_one_when_it_has_someone(
    at: datetime, person: str
) -> None:
    assert oncall(OFFICE_HOURS, at) == person


def test_office_hours_shifts_interleave_with_the_layer_below() -> None:
    got = shifts(OFFICE_HOURS, _at(BERLIN, 2026, 1, 5), _at(BERLIN, 2026, 1, 7))
    assert got == [
        Shift("ops", _z(2026, 1, 4, 23), _z(2026, 1, 5, 8), "around-the-clock"),
        Shift("lia", _z(2026, 1, 5, 8), _z(2026, 1, 5, 16), "l1"),
        Shift("ops", _z(2026, 1, 5, 16), _z(2026, 1, 6, 8), "around-the-clock"),  # midnight merged
        Shift("leo", _z(2026, 1, 6, 8), _z(2026, 1, 6, 16), "l1"),
        Shift("ops", _z(2026, 1, 6, 16), _z(2026, 1, 6, 23), "around-the-clock"),
    ]


NIGHT = Schedule(
    "nights",
    BERLIN,
    (
        _layer(
            "friday-night",
            ("nia",),
            Rotation.weekly(),
            time(0),
            date(2026, 1, 1),
            (Restriction(frozenset({4}), time(22), time(6)),),
        ),
    ),
)


@pytest.mark.parametrize(
    ("at", "person"),
    [
        (_at(BERLIN, 2026, 1, 9, 21, 59), None),
        (_at(BERLIN, 2026, 1, 9, 22), "nia"),  # Friday 22:00
        (_at(BERLIN, 2026, 1, 10, 5, 59), "nia"),  # into Saturday
        (_at(BERLIN, 2026, 1, 10, 6), None),
        (_at(BERLIN, 2026, 1, 8, 23), None),  # Thursday night is not listed
        (_at(BERLIN, 2026, 1, 10, 23), None),
    ],
)
def test_a_restriction_crossing_midnight_runs_into_the_next_day(at: datetime, person: str | None) -> None:
    assert oncall(NIGHT, at) == person


def test_a_night_restriction_as_shifts_including_the_short_night_of_spring_forward() -> None:
    assert shifts(NIGHT, _at(BERLIN, 2026, 1, 9), _at(BERLIN, 2026, 1, 11)) == [
        Shift("nia", _z(2026, 1, 9, 21), _z(2026, 1, 10, 5), "friday-night")
    ]
    # Friday 27 March 22:00 CET to Saturday 06:00 CET: DST starts only on Sunday, so 8 hours.
    assert shifts(NIGHT, _at(BERLIN, 2026, 3, 27), _at(BERLIN, 2026, 3, 29)) == [
        Shift("nia", _z(2026, 3, 27, 21), _z(2026, 3, 28, 5), "friday-night")
    ]


def test_an_end_of_24_00_is_midnight_and_a_span_ending_where_it_starts_is_a_whole_day() -> None:
    evening = Restriction(EVERY_DAY, time(18), parse_clock("24:00", "end", end_of_day=True))
    whole = Restriction(frozenset({0}), time(0), parse_clock("24:00", "end", end_of_day=True))
    layer = _layer("x", ("xi",), Rotation.daily(), time(0), date(2026, 1, 1), (evening, whole))
    schedule = Schedule("x", UTC_ZONE, (layer,))
    assert shifts(schedule, _z(2026, 1, 4), _z(2026, 1, 7)) == [
        Shift("xi", _z(2026, 1, 4, 18), _z(2026, 1, 6), "x"),  # Sunday evening + all Monday
        Shift("xi", _z(2026, 1, 6, 18), _z(2026, 1, 7), "x"),
    ]


def test_follow_the_sun_in_one_zone_hands_over_twice_a_day() -> None:
    # Berlin's day 07:00-19:00, Sydney's morning the Berlin night (19:00-07:00, across midnight).
    emea = _layer(
        "emea",
        ("eva",),
        Rotation.daily(),
        time(7),
        date(2026, 1, 1),
        (Restriction(EVERY_DAY, time(7), time(19)),),
    )
    apac = _layer(
        "apac",
        ("sam",),
        Rotation.daily(),
        time(7),
        date(2026, 1, 1),
        (Restriction(EVERY_DAY, time(19), time(7)),),
    )
    schedule = Schedule("sun", BERLIN, (emea, apac))
    assert shifts(schedule, _at(BERLIN, 2026, 1, 10), _at(BERLIN, 2026, 1, 11)) == [
        Shift("sam", _z(2026, 1, 9, 23), _z(2026, 1, 10, 6), "apac"),
        Shift("eva", _z(2026, 1, 10, 6), _z(2026, 1, 10, 18), "emea"),
        Shift("sam", _z(2026, 1, 10, 18), _z(2026, 1, 10, 23), "apac"),
    ]
    # in summer the same local hours are an hour earlier in UTC
    assert oncall(schedule, _z(2026, 7, 10, 5, 30)) == "eva"
    assert oncall(schedule, _z(2026, 1, 10, 5, 30)) == "sam"


def test_follow_the_sun_across_three_regions_tiles_the_day() -> None:
    def region(name: str, person: str, start: int, end: int) -> Layer:
        span = Restriction(EVERY_DAY, time(start), time(end))
        return _layer(name, (person,), Rotation.weekly(), time(0), date(2026, 1, 5), (span,))

    schedule = Schedule(
        "sun",
        UTC_ZONE,
        (region("sydney", "syd", 22, 6), region("berlin", "ber", 6, 14), region("new-york", "nyc", 14, 22)),
    )
    got = shifts(schedule, _z(2026, 3, 1, 6), _z(2026, 3, 2, 6))
    assert [(s.person, s.start.hour, s.end.hour) for s in got] == [
        ("ber", 6, 14),
        ("nyc", 14, 22),
        ("syd", 22, 6),
    ]


# -- overrides ---------------------------------------------------------------------------------


def test_an_override_covers_its_span_whoever_the_rotation_says() -> None:
    schedule = _weekly(Override("dan", _at(BERLIN, 2026, 1, 13, 12), _at(BERLIN, 2026, 1, 14, 12)))
    assert oncall(schedule, _at(BERLIN, 2026, 1, 13, 11, 59)) == "bob"
    assert oncall(schedule, _at(BERLIN, 2026, 1, 13, 12)) == "dan"
    assert oncall(schedule, _at(BERLIN, 2026, 1, 14, 12)) == "bob"
    assert shifts(schedule, _at(BERLIN, 2026, 1, 12), _at(BERLIN, 2026, 1, 19)) == [
        Shift("ann", _z(2026, 1, 11, 23), _z(2026, 1, 12, 8), "l2"),
        Shift("bob", _z(2026, 1, 12, 8), _z(2026, 1, 13, 11), "l2"),
        Shift("dan", _z(2026, 1, 13, 11), _z(2026, 1, 14, 11), OVERRIDE),
        Shift("bob", _z(2026, 1, 14, 11), _z(2026, 1, 18, 23), "l2"),
    ]


def test_an_override_across_a_handoff_and_a_later_override_wins() -> None:
    schedule = _weekly(
        Override("dan", _at(BERLIN, 2026, 1, 12, 6), _at(BERLIN, 2026, 1, 12, 12)),
        Override("eve", _at(BERLIN, 2026, 1, 12, 10), _at(BERLIN, 2026, 1, 12, 11)),
    )
    got = shifts(schedule, _at(BERLIN, 2026, 1, 12), _at(BERLIN, 2026, 1, 13))
    assert [(s.person, s.start.hour, s.end.hour, s.layer) for s in got] == [
        ("ann", 23, 5, "l2"),
        ("dan", 5, 9, OVERRIDE),
        ("eve", 9, 10, OVERRIDE),
        ("dan", 10, 11, OVERRIDE),
        ("bob", 11, 23, "l2"),
    ]
    assert oncall(schedule, _at(BERLIN, 2026, 1, 12, 10, 30)) == "eve"


# -- DST days --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "clock", "zone", "instant"),
    [
        (
            date(2026, 3, 29),
            time(2, 30),
            BERLIN,
            _z(2026, 3, 29, 1),
        ),  # gap: first instant after it, 03:00 CEST
        (date(2026, 3, 29), time(2, 0), BERLIN, _z(2026, 3, 29, 1)),
        (date(2026, 3, 29), time(3, 0), BERLIN, _z(2026, 3, 29, 1)),  # the same instant, named properly
        (date(2026, 3, 29), time(1, 59), BERLIN, _z(2026, 3, 29, 0, 59)),
        (date(2026, 10, 25), time(2, 30), BERLIN, _z(2026, 10, 25, 0, 30)),  # twice: the first, CEST
        (date(2026, 3, 8), time(2, 15), NEW_YORK, _z(2026, 3, 8, 7)),  # gap: 03:00 EDT
        (date(2026, 11, 1), time(1, 30), NEW_YORK, _z(2026, 11, 1, 5, 30)),  # twice: the first, EDT
        (date(2026, 4, 5), time(2, 30), SYDNEY, _z(2026, 4, 4, 15, 30)),  # twice: the first, AEDT
        (date(2026, 10, 4), time(2, 30), SYDNEY, _z(2026, 10, 3, 16)),  # gap: 03:00 AEDT
    ],
)
def test_local_times_on_dst_days_resolve_by_the_documented_rule(
    day: date, clock: time, zone: ZoneInfo, instant: datetime
) -> None:
    assert resolve(day, clock, zone) == instant


def _daily_at_half_past_two(start: date) -> Schedule:
    return Schedule("d", BERLIN, (_layer("d", ("a", "b"), Rotation.daily(), time(2, 30), start),))


def test_a_handoff_in_the_spring_forward_gap_happens_when_the_clocks_reach_three() -> None:
    schedule = _daily_at_half_past_two(date(2026, 3, 27))
    assert oncall(schedule, _z(2026, 3, 29, 0, 59, 59)) == "b"
    assert oncall(schedule, _z(2026, 3, 29, 1)) == "a"
    assert shifts(schedule, _z(2026, 3, 28), _z(2026, 3, 30, 12)) == [
        Shift("a", _z(2026, 3, 28), _z(2026, 3, 28, 1, 30), "d"),
        Shift("b", _z(2026, 3, 28, 1, 30), _z(2026, 3, 29, 1), "d"),  # 23.5 h
        Shift("a", _z(2026, 3, 29, 1), _z(2026, 3, 30, 0, 30), "d"),  # 23.5 h: 03:00 to 02:30 CEST
        Shift("b", _z(2026, 3, 30, 0, 30), _z(2026, 3, 30, 12), "d"),
    ]


def test_a_handoff_at_a_time_that_happens_twice_is_made_once_at_its_first_occurrence() -> None:
    schedule = _daily_at_half_past_two(date(2026, 10, 24))
    assert oncall(schedule, _z(2026, 10, 25, 0, 29)) == "a"
    assert oncall(schedule, _z(2026, 10, 25, 0, 30)) == "b"  # 02:30 CEST
    assert oncall(schedule, _z(2026, 10, 25, 1, 30)) == "b"  # 02:30 CET again: no second handoff
    got = shifts(schedule, _z(2026, 10, 25), _z(2026, 10, 27))
    assert got[1] == Shift("b", _z(2026, 10, 25, 0, 30), _z(2026, 10, 26, 1, 30), "d")  # 25 h


def test_every_n_hours_counts_elapsed_hours_through_dst() -> None:
    layer = _layer("h", ("a", "b"), Rotation.hours(12), time(8), date(2026, 3, 28))
    got = shifts(Schedule("h", BERLIN, (layer,)), _z(2026, 3, 28, 7), _z(2026, 3, 29, 19))
    assert [(s.person, s.start, s.end) for s in got] == [
        ("a", _z(2026, 3, 28, 7), _z(2026, 3, 28, 19)),
        ("b", _z(2026, 3, 28, 19), _z(2026, 3, 29, 7)),  # 09:00 CEST, not 08:00
        ("a", _z(2026, 3, 29, 7), _z(2026, 3, 29, 19)),
    ]


def test_a_restriction_over_the_change_is_as_long_as_the_clocks_say() -> None:
    saturday_night = Restriction(frozenset({5}), time(22), time(6))
    layer = _layer("n", ("nia",), Rotation.weekly(), time(0), date(2026, 1, 1), (saturday_night,))
    got = shifts(Schedule("n", BERLIN, (layer,)), _z(2026, 3, 28), _z(2026, 3, 30))
    assert got == [Shift("nia", _z(2026, 3, 28, 21), _z(2026, 3, 29, 4), "n")]  # 7 hours


# -- bad input ---------------------------------------------------------------------------------


def _field(error: InvalidSchedule) -> Any:
    return error.extensions["errors"][0]["field"]


BAD: list[tuple[Schedule, str]] = [
    (Schedule("s", BERLIN, ()), "layers"),
    (
        Schedule("s", BERLIN, (_layer("x", (), Rotation.daily(), time(0), date(2026, 1, 1)),)),
        "layers.0.members",
    ),
    (
        Schedule("s", BERLIN, (_layer("x", ("a",), Rotation.hours(0), time(0), date(2026, 1, 1)),)),
        "layers.0.rotation",
    ),
    (
        Schedule("s", BERLIN, (_layer("x", ("a",), Rotation.days(0), time(0), date(2026, 1, 1)),)),
        "layers.0.rotation",
    ),
    (
        Schedule(
            "s",
            BERLIN,
            (
                _layer(
                    "x",
                    ("a",),
                    Rotation.daily(),
                    time(0),
                    date(2026, 1, 1),
                    (OFFICE, Restriction(frozenset(), time(1), time(2))),
                ),
            ),
        ),
        "layers.0.restrictions.1.days",
    ),
    (Schedule("s", BERLIN, (L2_WEEKLY, L2_WEEKLY)), "layers.1.name"),
    (_weekly(Override("dan", _z(2026, 1, 2), _z(2026, 1, 1))), "overrides.0.end"),
    (_weekly(Override("dan", _z(2026, 1, 1), _z(2026, 1, 1))), "overrides.0.end"),
    (_weekly(Override("dan", _z(2026, 1, 1), _z(2027, 1, 3))), "overrides.0.end"),
    (_weekly(Override("dan", datetime(2026, 1, 1), _z(2026, 1, 3))), "overrides.0.start"),
]


@pytest.mark.parametrize(("schedule", "field"), BAD)
def test_a_bad_schedule_is_refused_naming_the_field(schedule: Schedule, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate(schedule)
    assert _field(caught.value) == field
    assert caught.value.status == 422
    with pytest.raises(InvalidSchedule):  # and nothing is answered from it
        oncall(schedule, _z(2026, 1, 6))


def test_an_override_of_exactly_a_leap_year_is_fine() -> None:
    assert validate(_weekly(Override("dan", _z(2028, 1, 1), _z(2028, 12, 31, 23, 59))))


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "../../etc/passwd",
        "",
        "Europe/",
        "Europe",  # a directory of zones, not a zone
        "America",
        "Etc",
        "localtime",  # host files, not IANA keys: they differ between replicas
        "right/UTC",
        "posix/Europe/Berlin",
    ],
)
def test_an_unknown_time_zone_is_refused_at_parse(name: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_zone(name, "schedules.0.timezone")
    assert _field(caught.value) == "schedules.0.timezone"


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5"])
def test_iana_keys_parse(name: str) -> None:
    assert parse_zone(name).key == name


def test_24_00_is_only_the_end_of_a_restriction() -> None:
    assert parse_clock("24:00", "end", end_of_day=True) == time(0)
    with pytest.raises(InvalidSchedule) as caught:
        parse_clock("24:00", "layers.0.handoff")
    assert _field(caught.value) == "layers.0.handoff"


def test_an_empty_calendar_layer_is_refused() -> None:
    with pytest.raises(InvalidSchedule) as caught:
        validate(Schedule("s", BERLIN, (L2_WEEKLY, CalendarLayer("holidays", ()))))
    assert (_field(caught.value), caught.value.reason) == (
        "layers.1.shifts",
        "a layer needs at least one shift",
    )


def test_a_schedule_is_validated_once_not_on_every_oncall(monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[Schedule] = []
    real = model._check
    monkeypatch.setattr(model, "_check", lambda schedule: checks.append(schedule) or real(schedule))
    schedule = _weekly(Override("dan", _z(2026, 1, 6), _z(2026, 1, 7)))
    assert [oncall(schedule, _z(2026, 1, 6, hour)) for hour in (0, 12)] == ["dan", "dan"]
    shifts(schedule, _z(2026, 1, 1), _z(2026, 1, 10))
    assert checks == [schedule]


@pytest.mark.parametrize(
    ("at", "field"),
    [
        (datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), "at"),  # before year 1 in UTC
        (datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), "at"),  # after 9999 in UTC
        (_z(9000, 1, 1), "at"),
    ],
)
def test_instants_out_of_the_years_answered_are_refused_not_overflowed(at: datetime, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        oncall(_weekly(), at)
    assert _field(caught.value) == field
    with pytest.raises(InvalidSchedule) as caught:
        until(_weekly(), at, "ann")
    assert _field(caught.value) == field


def test_overrides_out_of_the_years_answered_are_refused_naming_the_field() -> None:
    early = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(InvalidSchedule) as caught:
        validate(_weekly(Override("dan", early, _z(2026, 1, 1))))
    assert _field(caught.value) == "overrides.0.start"


def test_shifts_near_the_end_of_time_are_cut_there() -> None:
    start = _z(8999, 12, 30)
    got = shifts(_weekly(), start, start + timedelta(days=30))
    assert got[0].start == start
    assert got[-1].end == END_OF_TIME
    last = _z(8999, 12, 31)  # a Sunday: the next handoff (Monday 09:00) is past the end of time
    assert until(_weekly(), last, oncall(_weekly(), last) or "") is None
    week_before = _z(8999, 12, 20)
    ends = until(_weekly(), week_before, oncall(_weekly(), week_before) or "")
    assert ends is not None
    assert ends < END_OF_TIME
    assert ends.astimezone(BERLIN).timetuple()[3:7] == (9, 0, 0, 0)  # Monday (0) at 09:00


def test_overlapping_overrides_flatten_once_with_the_later_winning() -> None:
    schedule = _weekly(
        Override("dan", _z(2026, 2, 1), _z(2026, 2, 10)),
        Override("eve", _z(2026, 2, 3), _z(2026, 2, 5)),
        Override("dan", _z(2026, 2, 4), _z(2026, 2, 12)),  # later: wins over eve from the 4th
        Override("fay", _z(2026, 1, 30), _z(2026, 2, 2)),  # later still: wins over the first dan
    )
    assert [(s.person, s.start, s.end) for s in schedule.override_timeline] == [
        ("fay", _z(2026, 1, 30), _z(2026, 2, 2)),
        ("dan", _z(2026, 2, 2), _z(2026, 2, 3)),
        ("eve", _z(2026, 2, 3), _z(2026, 2, 4)),
        ("dan", _z(2026, 2, 4), _z(2026, 2, 12)),
    ]
    assert [oncall(schedule, _z(2026, 2, d, 12)) for d in (1, 2, 3, 4, 11)] == [
        "fay",
        "dan",
        "eve",
        "dan",
        "dan",
    ]
    got = [s for s in shifts(schedule, _z(2026, 1, 29), _z(2026, 2, 13)) if s.layer == OVERRIDE]
    assert [(s.person, s.start, s.end) for s in got] == [
        (p, s, e) for p, s, e in ((x.person, x.start, x.end) for x in schedule.override_timeline)
    ]


@pytest.mark.parametrize(
    ("at", "person", "expected"),
    [
        (_at(BERLIN, 2026, 1, 6, 12), "ann", _at(BERLIN, 2026, 1, 12, 9)),  # beyond the first window
        (_at(BERLIN, 2026, 1, 12, 8, 59), "ann", _at(BERLIN, 2026, 1, 12, 9)),  # within it
        (_at(BERLIN, 2026, 1, 6, 12), "bob", None),  # not on call
        (_at(BERLIN, 2026, 1, 5, 8), "ann", None),  # nobody before the first handoff
    ],
)
def test_until_is_the_end_of_the_persons_time_on_call(
    at: datetime, person: str, expected: datetime | None
) -> None:
    assert until(_weekly(), at, person) == expected


def test_until_runs_across_touching_shifts_of_the_person_and_is_none_past_the_range() -> None:
    cover = _weekly(Override("ann", _at(BERLIN, 2026, 1, 12, 9), _at(BERLIN, 2026, 1, 13, 9)))
    assert until(cover, _at(BERLIN, 2026, 1, 6), "ann") == _at(BERLIN, 2026, 1, 13, 9)
    alone = Schedule("one", BERLIN, (_layer("solo", ("ann",), Rotation.weekly(), time(9), date(2026, 1, 5)),))
    assert until(alone, _at(BERLIN, 2026, 1, 6), "ann") is None  # on call beyond 400 days


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (_z(2026, 1, 1), _z(2027, 2, 6), "end"),  # 401 days
        (_z(2026, 1, 2), _z(2026, 1, 1), "end"),
        (datetime(2026, 1, 1), _z(2026, 1, 2), "start"),
    ],
)
def test_shifts_refuse_a_range_they_cannot_answer(start: datetime, end: datetime, field: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        shifts(_weekly(), start, end)
    assert _field(caught.value) == field


def test_four_hundred_days_are_answered() -> None:
    assert shifts(_weekly(), _z(2026, 1, 1), _z(2027, 2, 5))[-1].end == _z(2027, 2, 5)


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(InvalidSchedule) as caught:
        oncall(_weekly(), datetime(2026, 1, 6))
    assert _field(caught.value) == "at"


@pytest.mark.parametrize(
    ("text", "rotation"),
    [
        ("daily", Rotation.daily()),
        ("weekly", Rotation.weekly()),
        ("every 8 hours", Rotation.hours(8)),
        ("every 1 hour", Rotation.hours(1)),
        ("every 14 days", Rotation.days(14)),
    ],
)
def test_rotations_parse(text: str, rotation: Rotation) -> None:
    assert parse_rotation(text) == rotation


@pytest.mark.parametrize("text", ["fortnightly", "every hours", "every -2 days", "every 2 weeks"])
def test_a_rotation_that_does_not_parse_names_the_field(text: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_rotation(text, "layers.0.rotation")
    assert _field(caught.value) == "layers.0.rotation"


@pytest.mark.parametrize("text", ["25:00", "9:00", "09:60", "09:00:00", "noon", "24:01"])
def test_a_clock_that_does_not_parse_names_the_field(text: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_clock(text, "handoff")
    assert _field(caught.value) == "handoff"


def test_days_parse_by_name_and_refuse_others() -> None:
    assert parse_days(["mon", "Fri", "sun"]) == frozenset({0, 4, 6})
    with pytest.raises(InvalidSchedule) as caught:
        parse_days(["mon", "funday"], "layers.0.restrictions.0.days")
    assert _field(caught.value) == "layers.0.restrictions.0.days.1"


# -- properties --------------------------------------------------------------------------------

ZONES = st.sampled_from([BERLIN, NEW_YORK, SYDNEY, UTC_ZONE])
PEOPLE = ("ann", "bob", "cy", "dan")
# Handoffs and restriction edges cluster around 02:00-03:00, where DST changes happen.
CLOCKS = st.one_of(
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.builds(time, st.integers(1, 3), st.integers(0, 59)),
)
ROTATIONS = st.one_of(
    st.just(Rotation.daily()),
    st.just(Rotation.weekly()),
    st.builds(Rotation.hours, st.integers(1, 48)),
    st.builds(Rotation.days, st.integers(1, 10)),
)
RESTRICTIONS = st.builds(Restriction, st.frozensets(st.integers(0, 6), min_size=1), CLOCKS, CLOCKS)
# A range somewhere in 2026 (DST changes of all three zones inside), up to three weeks long.
STARTS = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1)).map(lambda d: d.replace(tzinfo=UTC))
LENGTHS = st.timedeltas(timedelta(minutes=1), timedelta(days=21))


@st.composite
def layers(draw: st.DrawFn, index: int, *, restricted: bool = True) -> Layer:
    members = tuple(draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3)))
    restrictions = tuple(draw(st.lists(RESTRICTIONS, max_size=2))) if restricted else ()
    start = draw(st.dates(date(2025, 10, 1), date(2026, 12, 1)))
    return Layer(f"layer-{index}", members, draw(ROTATIONS), draw(CLOCKS), start, restrictions)


@st.composite
def calendar_layers(draw: st.DrawFn, index: int) -> CalendarLayer:
    """Explicit pieces, as an import makes them: ordered by start, never overlapping."""
    at = draw(STARTS)
    pieces = []
    for _ in range(draw(st.integers(1, 4))):  # a calendar layer holds at least one piece
        start = at + draw(st.timedeltas(timedelta(0), timedelta(days=3)))
        end = start + draw(LENGTHS)
        pieces.append(Shift(draw(st.sampled_from(PEOPLE)), start, end, f"layer-{index}"))
        at = end
    return CalendarLayer(f"layer-{index}", tuple(draw(st.permutations(pieces))))


@st.composite
def schedules(draw: st.DrawFn, *, covered: bool = False) -> Schedule:
    count = draw(st.integers(1, 3))
    drawn: list[Layer | CalendarLayer] = [
        draw(layers(i, restricted=not (covered and i == 0))) for i in range(count)
    ]
    if draw(st.booleans()):  # an imported layer somewhere above the bottom one
        drawn.insert(draw(st.integers(1, count)), draw(calendar_layers(count)))
    if covered:  # the bottom layer works around the clock from before any range
        bottom = drawn[0]
        assert isinstance(bottom, Layer)
        drawn[0] = Layer(bottom.name, bottom.members, bottom.rotation, bottom.handoff, date(2025, 9, 1))
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(STARTS)
        overrides.append(Override(draw(st.sampled_from(PEOPLE)), start, start + draw(LENGTHS)))
    return Schedule("s", draw(ZONES), tuple(drawn), tuple(overrides))


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_well_formed(got: list[Shift], start: datetime, end: datetime) -> None:
    for shift in got:
        assert start <= shift.start < shift.end <= end
    for before, after in itertools.pairwise(got):
        assert before.end <= after.start  # ordered, never overlapping
        if before.end == after.start:  # touching pieces of one person and layer would be one shift
            assert (before.person, before.layer) != (after.person, after.layer)


@PROPERTY
@given(schedules(), STARTS, LENGTHS, st.lists(st.floats(0, 1), min_size=1, max_size=8))
def test_shifts_are_ordered_disjoint_and_agree_with_oncall(
    schedule: Schedule, start: datetime, length: timedelta, fractions: list[float]
) -> None:
    end = start + length
    got = shifts(schedule, start, end)
    _check_well_formed(got, start, end)
    probes = [start + length * f for f in fractions if start + length * f < end]
    probes += [t for s in got for t in (s.start, s.end - timedelta(microseconds=1))]
    for at in probes:
        covering = [s.person for s in got if s.start <= at < s.end]
        assert len(covering) <= 1
        assert oncall(schedule, at) == (covering[0] if covering else None)


@PROPERTY
@given(schedules(covered=True), STARTS, LENGTHS)
def test_shifts_tile_the_range_when_some_layer_always_has_someone(
    schedule: Schedule, start: datetime, length: timedelta
) -> None:
    got = shifts(schedule, start, start + length)
    _check_well_formed(got, start, start + length)
    assert got[0].start == start
    assert got[-1].end == start + length
    assert all(before.end == after.start for before, after in itertools.pairwise(got))


@PROPERTY
@given(schedules(), STARTS, LENGTHS, st.floats(0, 0.9), st.floats(0.01, 1))
def test_an_override_inside_the_range_shows_as_exactly_its_span(
    schedule: Schedule, start: datetime, length: timedelta, offset: float, share: float
) -> None:
    end = start + length
    cover_start = start + length * offset
    cover_end = min(cover_start + (end - cover_start) * share, end)
    if cover_end <= cover_start:
        return
    covered = Schedule(
        schedule.name,
        schedule.timezone,
        schedule.layers,
        (*schedule.overrides, Override("zed", cover_start, cover_end)),
    )
    got = shifts(covered, start, end)
    assert [s for s in got if s.person == "zed"] == [Shift("zed", cover_start, cover_end, OVERRIDE)]
    assert oncall(covered, cover_start) == "zed"


# -- imported (calendar) layers ----------------------------------------------------------------

HOLIDAY = Shift("dan", _at(BERLIN, 2026, 12, 24), _at(BERLIN, 2026, 12, 27), "holidays")


def test_a_calendar_layer_covers_its_pieces_and_leaves_the_rest_to_the_layers_below() -> None:
    schedule = Schedule("l2", BERLIN, (L2_WEEKLY, CalendarLayer("holidays", (HOLIDAY,))))
    assert oncall(schedule, _at(BERLIN, 2026, 12, 23, 23, 59)) != "dan"
    assert oncall(schedule, _at(BERLIN, 2026, 12, 24)) == "dan"
    assert oncall(schedule, _at(BERLIN, 2026, 12, 26, 23, 59)) == "dan"
    assert oncall(schedule, _at(BERLIN, 2026, 12, 27)) == oncall(
        Schedule("l2", BERLIN, (L2_WEEKLY,)), _at(BERLIN, 2026, 12, 27)
    )
    got = shifts(schedule, _at(BERLIN, 2026, 12, 23), _at(BERLIN, 2026, 12, 28))
    assert [s.layer for s in got] == ["l2", "holidays", "l2"]
    assert (got[1].person, got[1].start, got[1].end) == ("dan", HOLIDAY.start, HOLIDAY.end)


def test_a_layer_above_a_calendar_layer_still_wins() -> None:
    schedule = Schedule("l2", BERLIN, (CalendarLayer("holidays", (HOLIDAY,)), L2_WEEKLY))
    assert oncall(schedule, _at(BERLIN, 2026, 12, 25, 12)) != "dan"


@pytest.mark.parametrize(
    ("pieces", "field"),
    [
        (
            (HOLIDAY, Shift("ann", _at(BERLIN, 2026, 12, 26), _at(BERLIN, 2026, 12, 28), "h")),
            "layers.0.shifts.1",
        ),
        ((Shift("ann", _at(BERLIN, 2026, 12, 26), _at(BERLIN, 2026, 12, 26), "h"),), "layers.0.shifts.0.end"),
        ((Shift("", _at(BERLIN, 2026, 12, 26), _at(BERLIN, 2026, 12, 27), "h"),), "layers.0.shifts.0.person"),
        ((Shift("ann", datetime(2026, 12, 26), _at(BERLIN, 2026, 12, 27), "h"),), "layers.0.shifts.0.start"),
    ],
)
def test_bad_calendar_pieces_are_refused_naming_the_piece(pieces: tuple[Shift, ...], field: str) -> None:
    with pytest.raises(InvalidSchedule) as refused:
        validate(Schedule("s", BERLIN, (CalendarLayer("holidays", pieces),)))
    assert refused.value.field == field


def test_overlap_names_the_later_piece_in_the_order_given() -> None:
    later = Shift("ann", _at(BERLIN, 2026, 12, 26), _at(BERLIN, 2026, 12, 28), "h")
    with pytest.raises(InvalidSchedule) as refused:
        validate(Schedule("s", BERLIN, (CalendarLayer("holidays", (later, HOLIDAY)),)))
    assert refused.value.field == "layers.0.shifts.0"
