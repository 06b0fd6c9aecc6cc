"""Business calendars: properties of add/business_time over generated calendars, DST worked examples."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tierline_sla_monitor.domain.calendar import ALWAYS, WEEKDAYS, Calendar, CalendarNeverOpens

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC")
# 2026 DST changes in the zones above; generated instants cluster around them.
DST_DAYS = (date(2026, 3, 8), date(2026, 3, 29), date(2026, 4, 5), date(2026, 10, 4), date(2026, 10, 25))
# Boundaries inside 02:00-03:00 (every zone above changes its clocks there) are included: a span ending in
# the spring gap must not overlap the next one (an explicit test below pins the case).
GRID = list(range(0, 24 * 60 + 1, 15))
EPS = timedelta(microseconds=1)
H = timedelta(hours=1)
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
WORKWEEK = {day: ["09:00-17:00"] for day in WEEKDAYS[:5]}

property_test = settings(max_examples=150, deadline=None)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def day_spans(draw: st.DrawFn, min_spans: int = 0) -> list[str]:
    points = sorted(draw(st.lists(st.sampled_from(GRID), unique=True, min_size=2 * min_spans, max_size=6)))
    spans = list(zip(points[::2], points[1::2], strict=False))
    if len(spans) > 1 and draw(st.booleans()):  # touching spans are allowed
        spans[1] = (spans[0][1], spans[1][1])
    return [f"{_hhmm(start)}-{_hhmm(end)}" for start, end in spans]


def quarter_hours(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda q: timedelta(minutes=15 * q))


near_dst = st.sampled_from(DST_DAYS)
holidays = st.builds(lambda day, k: day + timedelta(days=k), near_dst, st.integers(-7, 21))


@st.composite
def business_calendars(draw: st.DrawFn) -> Calendar:
    hours = draw(st.dictionaries(st.sampled_from(WEEKDAYS), day_spans(), max_size=7))
    hours[draw(st.sampled_from(WEEKDAYS))] = draw(day_spans(min_spans=1))
    zone = draw(st.sampled_from(ZONES))
    return Calendar(
        name="generated", timezone=zone, hours=hours, holidays=draw(st.lists(holidays, max_size=3))
    )


always_calendars = st.sampled_from(ZONES).map(lambda zone: Calendar(name="always", timezone=zone))
calendars = st.one_of(business_calendars(), always_calendars)
week = timedelta(days=7)
instants = st.builds(
    lambda day, offset: datetime.combine(day, time(), UTC) + offset,
    near_dst,
    st.one_of(quarter_hours(-7 * 96, 7 * 96), st.timedeltas(-week, week)),
)
# Small enough that a+b stays inside the 3-year walk even for a calendar open 15 minutes a week.
durations = st.one_of(quarter_hours(0, 64), st.timedeltas(timedelta(0), 16 * H))
positive_durations = durations.filter(lambda d: d > timedelta(0))


def in_wall_clock_hours(calendar: Calendar, moment: datetime) -> bool:
    """Oracle: is ``moment`` inside a span of its local day, read straight from the configuration."""
    assert calendar.hours is not None
    zone = ZoneInfo(calendar.timezone)
    day = moment.astimezone(zone).date()
    if day in calendar.holidays:
        return False
    for span in calendar.hours.get(WEEKDAYS[day.weekday()], []):
        start, end = span.split("-")
        opens = datetime.combine(day, time.fromisoformat(start), zone)
        closes = datetime.combine(
            day + timedelta(days=1) if end == "24:00" else day,
            time(0) if end == "24:00" else time.fromisoformat(end),
            zone,
        )
        if opens <= moment < closes:
            return True
    return False


@property_test
@given(calendars, instants, durations, durations)
def test_adding_more_time_never_gives_an_earlier_due_time(
    cal: Calendar, s: datetime, d1: timedelta, d2: timedelta
):
    d1, d2 = sorted((d1, d2))
    assert cal.add(s, d1) <= cal.add(s, d2)


@property_test
@given(calendars, instants, instants, durations)
def test_starting_later_never_gives_an_earlier_due_time(
    cal: Calendar, s1: datetime, s2: datetime, d: timedelta
):
    s1, s2 = sorted((s1, s2))
    assert cal.add(s1, d) <= cal.add(s2, d)


@property_test
@given(calendars, instants, durations, durations)
def test_adding_in_two_steps_equals_adding_the_sum(cal: Calendar, s: datetime, a: timedelta, b: timedelta):
    assert cal.add(cal.add(s, a), b) == cal.add(s, a + b)


@property_test
@given(calendars, instants, durations)
def test_business_time_to_the_due_time_is_the_duration(cal: Calendar, s: datetime, d: timedelta):
    assert cal.business_time(s, cal.add(s, d)) == d


@property_test
@given(calendars, instants, positive_durations)
def test_due_time_ends_an_open_stretch(cal: Calendar, s: datetime, d: timedelta):
    due = cal.add(s, d)
    assert cal.is_open(due - EPS)  # the due time itself may be a closing instant
    assert cal.business_time(due - EPS, due) == EPS
    assert cal.business_time(s, due - EPS) < d
    if not cal.is_24x7:
        assert in_wall_clock_hours(cal, due - EPS)


@property_test
@given(business_calendars(), instants)
def test_is_open_agrees_with_the_configured_wall_clock_spans(cal: Calendar, moment: datetime):
    assert cal.is_open(moment) == in_wall_clock_hours(cal, moment)


@property_test
@given(st.sampled_from(ZONES), instants, instants, durations)
def test_24x7_is_plain_utc_arithmetic_in_every_zone(zone: str, s: datetime, end: datetime, d: timedelta):
    cal = Calendar(name="always", timezone=zone)
    assert cal.add(s, d) == ALWAYS.add(s, d) == s + d
    assert cal.business_time(s, end) == ALWAYS.business_time(s, end) == max(end - s, timedelta(0))


@property_test
@given(st.sampled_from(ZONES), instants, durations)
def test_all_day_every_day_in_any_zone_is_24x7(zone: str, s: datetime, d: timedelta):
    cal = Calendar(name="all-day", timezone=zone, hours={day: ["00:00-24:00"] for day in WEEKDAYS})
    assert cal.add(s, d) == s + d
    assert cal.is_open(s)


@pytest.mark.parametrize(
    ("zone", "friday", "monday_utc", "offset"),
    [
        (BERLIN, datetime(2026, 3, 27, 16), datetime(2026, 3, 30, 8, tzinfo=UTC), 2),  # spring forward
        (BERLIN, datetime(2026, 10, 23, 16), datetime(2026, 10, 26, 9, tzinfo=UTC), 1),  # fall back
        (NEW_YORK, datetime(2026, 3, 6, 16), datetime(2026, 3, 9, 14, tzinfo=UTC), -4),
        (NEW_YORK, datetime(2026, 10, 30, 16), datetime(2026, 11, 2, 15, tzinfo=UTC), -5),
    ],
)
def test_two_hours_left_friday_at_four_are_due_monday_at_ten_local_across_dst(
    zone: ZoneInfo, friday: datetime, monday_utc: datetime, offset: int
) -> None:
    cal = Calendar(name="office", timezone=str(zone), hours=WORKWEEK)
    start = friday.replace(tzinfo=zone)
    due = cal.add(start, 2 * H)
    assert due == monday_utc
    local = due.astimezone(zone)
    assert (local.weekday(), local.time()) == (0, time(10))
    assert local.utcoffset() == timedelta(hours=offset)
    assert cal.business_time(start, due) == 2 * H


@pytest.mark.parametrize(
    ("sunday", "all_day", "one_to_four"),
    [(date(2026, 3, 29), 23 * H, 2 * H), (date(2026, 10, 25), 25 * H, 4 * H)],
)
def test_hours_over_a_dst_night_count_real_time(sunday: date, all_day: timedelta, one_to_four: timedelta):
    saturday_noon = datetime.combine(sunday - timedelta(days=1), time(12), BERLIN)
    monday_noon = datetime.combine(sunday + timedelta(days=1), time(12), BERLIN)
    whole = Calendar(name="sunday", timezone="Europe/Berlin", hours={"sun": ["00:00-24:00"]})
    night = Calendar(name="night", timezone="Europe/Berlin", hours={"sun": ["01:00-04:00"]})
    assert whole.business_time(saturday_noon, monday_noon) == all_day
    assert night.business_time(saturday_noon, monday_noon) == one_to_four
    midnight = datetime.combine(sunday, time(0), BERLIN)
    assert whole.add(saturday_noon, all_day) == datetime.combine(sunday + timedelta(days=1), time(0), BERLIN)
    # 12 real hours after midnight the wall clock shows 13:00 (spring) or 11:00 (autumn)
    wall = whole.add(saturday_noon, 12 * H).astimezone(BERLIN).time()
    assert wall == (time(13) if all_day < 24 * H else time(11))
    assert whole.add(saturday_noon, 12 * H) == midnight.astimezone(UTC) + 12 * H


def test_holidays_and_weekends_are_skipped() -> None:
    cal = Calendar(
        name="easter", timezone="Europe/Berlin", hours=WORKWEEK, holidays=[date(2026, 4, 3), date(2026, 4, 6)]
    )
    thursday = datetime(2026, 4, 2, 16, tzinfo=BERLIN)
    assert cal.add(thursday, 2 * H) == datetime(2026, 4, 7, 10, tzinfo=BERLIN)
    assert not cal.is_open(datetime(2026, 4, 6, 12, tzinfo=BERLIN))
    assert cal.business_time(thursday, datetime(2026, 4, 7, 17, tzinfo=BERLIN)) == 9 * H


def test_counting_starts_at_the_next_opening_and_skips_breaks() -> None:
    cal = Calendar(name="lunch", hours={day: ["09:00-12:00", "13:00-17:00"] for day in WEEKDAYS[:5]})
    monday = datetime(2026, 6, 8, tzinfo=UTC)
    assert cal.add(monday + 7 * H, H) == monday + 10 * H
    assert cal.add(monday - timedelta(days=2), H) == monday + 10 * H  # from Saturday
    assert cal.add(monday + 11 * H, 2 * H) == monday + 14 * H
    assert cal.business_time(monday, monday + 24 * H) == 7 * H
    touching = Calendar(name="touching", hours={"mon": ["09:00-12:00", "12:00-17:00"]})
    assert touching.add(monday + 11 * H, 2 * H) == monday + 13 * H


def test_zero_duration_stays_when_open_and_moves_to_the_next_opening_when_closed() -> None:
    cal = Calendar(name="office", hours=WORKWEEK)
    monday = datetime(2026, 6, 8, tzinfo=UTC)
    assert cal.add(monday + 10 * H, timedelta(0)) == monday + 10 * H
    assert cal.add(monday - timedelta(days=2), timedelta(0)) == monday + 9 * H  # Saturday
    assert cal.add(monday + 17 * H, timedelta(0)) == monday + 17 * H  # adding nothing at closing stays put
    assert not cal.is_open(monday + 17 * H)  # though a closing instant is not open
    assert cal.add(monday + 9 * H, 8 * H) == monday + 17 * H  # ...yet a due time may be one
    assert not cal.is_open(monday + 17 * H) and cal.is_open(monday + 17 * H - EPS)


def test_business_time_is_zero_when_end_is_not_after_start() -> None:
    cal = Calendar(name="office", hours=WORKWEEK)
    noon = datetime(2026, 6, 8, 12, tzinfo=UTC)
    assert cal.business_time(noon, noon) == cal.business_time(noon, noon - H) == timedelta(0)
    assert ALWAYS.business_time(noon, noon - H) == timedelta(0)


def test_always_is_the_utc_24x7_calendar() -> None:
    assert (ALWAYS.name, ALWAYS.timezone, ALWAYS.is_24x7) == ("24x7", "UTC", True)
    assert ALWAYS.is_open(datetime(2026, 12, 25, 3, tzinfo=UTC))
    with pytest.raises(ValidationError):
        ALWAYS.timezone = "Europe/Berlin"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"mon": ["17:00-09:00"]}, "ends before it starts"),
        ({"mon": ["09:00-09:00"]}, "ends before it starts"),
        ({"mon": ["9:00-17:00"]}, "not HH:MM-HH:MM"),
        ({"mon": ["09:00-24:30"]}, "24:MM only as 24:00"),
        ({"mon": ["09:00-12:00", "11:00-13:00"]}, "spans overlap"),
        ({"mon": ["00:00-24:00", "23:00-23:30"]}, "spans overlap"),
        ({"mon": [], "tue": []}, "never open"),
        ({}, "never open"),
        ({"monday": ["09:00-17:00"]}, "monday"),
    ],
)
def test_invalid_hours_are_rejected(hours: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Calendar(name="bad", hours=hours)


def test_unknown_zone_and_extra_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown IANA time zone 'Mars/Olympus'"):
        Calendar(name="mars", timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        Calendar(name="x", weekends=True)  # type: ignore[call-arg]


@pytest.mark.parametrize("cal", [ALWAYS, Calendar(name="office", hours=WORKWEEK)])
def test_naive_datetimes_and_negative_durations_are_rejected(cal: Calendar) -> None:
    naive, aware = datetime(2026, 6, 8, 10), datetime(2026, 6, 8, 10, tzinfo=UTC)
    for call in (
        lambda: cal.add(naive, H),
        lambda: cal.business_time(naive, aware),
        lambda: cal.business_time(aware, naive),
        lambda: cal.is_open(naive),
    ):
        with pytest.raises(ValueError, match="aware"):
            call()
    with pytest.raises(ValueError, match="negative"):
        cal.add(aware, -EPS)


def test_a_calendar_closed_by_holidays_for_years_raises() -> None:
    mondays = [date(2026, 6, 1) + timedelta(weeks=k) for k in range(170)]
    cal = Calendar(name="mondays", hours={"mon": ["09:00-10:00"]}, holidays=mondays)
    with pytest.raises(CalendarNeverOpens):
        cal.add(datetime(2026, 6, 1, tzinfo=UTC), H)


# Bugs once found here, kept with their minimal inputs.


def test_zero_more_after_a_due_time_at_closing_keeps_it() -> None:
    cal = Calendar(name="office", hours=WORKWEEK)
    due = cal.add(datetime(2026, 3, 2, 9, tzinfo=UTC), 8 * H)  # Monday 17:00, the closing instant
    assert cal.add(due, timedelta(0)) == due  # actual: Tuesday 09:00


def test_spans_around_the_spring_forward_gap_are_not_counted_twice() -> None:
    # 02:30 does not exist on 2026-03-29 and is read as 03:30 CEST, past the 03:00 opening of the next span.
    cal = Calendar(name="night", timezone="Europe/Berlin", hours={"sun": ["01:00-02:30", "03:00-05:00"]})
    start = datetime(2026, 3, 29, tzinfo=UTC)  # 01:00 CET
    assert cal.add(start, 1.5 * H) <= cal.add(start, 1.75 * H)  # actual: 01:30Z > 01:15Z
    assert cal.business_time(start, start + 1.5 * H) == 1.5 * H  # actual: 2:00


def test_instants_in_a_local_zone_give_the_same_results_as_in_utc() -> None:
    saturday_noon = datetime(2026, 3, 28, 12, tzinfo=BERLIN)
    assert ALWAYS.add(saturday_noon, 24 * H) == saturday_noon.astimezone(UTC) + 24 * H  # actual: 1 h early
    sunday = Calendar(name="sunday", timezone="Europe/Berlin", hours={"sun": ["00:00-24:00"]})
    one_am = datetime(2026, 3, 29, 1, tzinfo=BERLIN)
    assert sunday.add(one_am, 2 * H) == one_am.astimezone(UTC) + 2 * H  # actual: 1 h early
    assert (
        ALWAYS.business_time(saturday_noon, datetime(2026, 3, 29, 12, tzinfo=BERLIN)) == 23 * H
    )  # actual: 24 h


def test_spans_sharing_a_start_with_one_to_midnight_are_rejected_as_overlapping() -> None:
    with pytest.raises(ValidationError, match="spans overlap"):
        Calendar(name="bad", hours={"mon": ["09:00-24:00", "09:00-17:00"]})
