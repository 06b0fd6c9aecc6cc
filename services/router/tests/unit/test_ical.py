"""iCalendar export and import of on-call shifts: round trips, recurrences, people, refusals."""

from __future__ import annotations

import sys
import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar.parser import unescape_backslash

from tierline_router.adapters.ical import (
    EXPANSION_DEADLINE_SECONDS,
    PRODID,
    calendar_of,
    layer_from_calendar,
    shift_uid,
)
from tierline_router.domain.schedules import (
    MAX_CALENDAR_SHIFTS,
    CalendarLayer,
    InvalidSchedule,
    Layer,
    Rotation,
    Schedule,
    Shift,
    oncall,
    shifts,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
PEOPLE = ("alice", "bob", "carol")
NOW = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = (NOW - timedelta(days=1), NOW + timedelta(days=366))


def _z(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _ics(*events: str, extra: str = "") -> bytes:
    """A calendar of the given VEVENT bodies (property lines, \\n-separated)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *filter(None, extra.split("\n"))]
    for number, body in enumerate(events):
        lines += ["BEGIN:VEVENT", f"UID:e{number}@test", "DTSTAMP:20260101T000000Z", *body.split("\n")]
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _import(data: bytes, zone: ZoneInfo = BERLIN, people: tuple[str, ...] = PEOPLE) -> CalendarLayer:
    return layer_from_calendar(data, name="imported", zone=zone, people=people, window=WINDOW)


def _pieces(layer: CalendarLayer) -> list[tuple[str, datetime, datetime]]:
    return [(s.person, s.start, s.end) for s in layer.shifts]


def _refusal(data: bytes, **kwargs: object) -> InvalidSchedule:
    with pytest.raises(InvalidSchedule) as caught:
        _import(data, **kwargs)  # type: ignore[arg-type]
    return caught.value


WEEKLY = Schedule(
    "l2",
    BERLIN,
    (Layer("week", PEOPLE, Rotation.weekly(), time(9), date(2026, 3, 2)),),
)


# -- export ------------------------------------------------------------------------------------


def test_export_across_a_dst_change_parses_back_to_the_same_shifts() -> None:
    # Berlin springs forward on 2026-03-29: the handoff stays 09:00 local, 08:00 UTC before, 07:00 after
    final = shifts(WEEKLY, _z(2026, 3, 2, 8), _z(2026, 4, 20, 7))
    assert {(s.start.hour, s.end.hour) for s in final} >= {(8, 8), (8, 7), (7, 7)}
    data = calendar_of("L2 on call", [("l2", s) for s in final], now=NOW)

    calendar = icalendar.Calendar.from_ical(data)
    assert (str(calendar["PRODID"]), str(calendar["VERSION"]), str(calendar["METHOD"])) == (
        PRODID,
        "2.0",
        "PUBLISH",
    )
    assert str(calendar["X-WR-CALNAME"]) == "L2 on call"
    events = calendar.walk("VEVENT")
    parsed = {(str(e["X-TIERLINE-PERSON"]), e.decoded("DTSTART"), e.decoded("DTEND")) for e in events}
    assert parsed == {(s.person, s.start, s.end) for s in final}
    assert all(e.decoded("DTSTART").utcoffset() == timedelta(0) for e in events)  # written in UTC
    first = events[0]
    assert str(first["SUMMARY"]) == "On call: alice (l2)"
    assert (str(first["X-TIERLINE-SCHEDULE"]), str(first["X-TIERLINE-LAYER"])) == ("l2", "week")
    assert first["CATEGORIES"].cats == ["on-call"]
    assert first.decoded("DTSTAMP") == NOW
    assert len({str(e["UID"]) for e in events}) == len(events)


def test_uids_are_stable_for_the_same_shift_and_differ_otherwise() -> None:
    start = _z(2026, 3, 2, 8)
    shift = Shift("alice", start, _z(2026, 3, 9, 8), "week")
    later = Shift("alice", start, _z(2026, 3, 10, 8), "week")  # the same shift, extended
    first = icalendar.Calendar.from_ical(calendar_of("a", [("l2", shift)], now=NOW))
    again = icalendar.Calendar.from_ical(calendar_of("a", [("l2", later)], now=NOW + timedelta(days=1)))
    assert str(first.walk("VEVENT")[0]["UID"]) == str(again.walk("VEVENT")[0]["UID"])
    assert shift_uid("l2", "alice", start) != shift_uid("l2", "bob", start)
    assert shift_uid("l2", "alice", start) != shift_uid("l3", "alice", start)
    assert shift_uid("l2", "alice", start) != shift_uid("l2", "alice", start + timedelta(hours=1))


def test_export_escapes_text_that_would_break_lines() -> None:
    shift = Shift("o'neil", _z(2026, 3, 2, 8), _z(2026, 3, 3, 8), "a,b;c")
    data = calendar_of("Desk; night\nshift", [("desk", shift)], now=NOW)
    calendar = icalendar.Calendar.from_ical(data)
    assert unescape_backslash(str(calendar["X-WR-CALNAME"])) == "Desk; night\nshift"
    assert unescape_backslash(str(calendar.walk("VEVENT")[0]["X-TIERLINE-LAYER"])) == "a,b;c"


# -- import ------------------------------------------------------------------------------------


def test_weekly_rrule_in_a_zone_is_expanded_across_the_dst_change() -> None:
    data = _ics(
        "DTSTART;TZID=Europe/Berlin:20260302T090000\nDTEND;TZID=Europe/Berlin:20260309T090000\n"
        "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3\nSUMMARY:alice"
    )
    assert _pieces(_import(data)) == [
        ("alice", _z(2026, 3, 2, 8), _z(2026, 3, 9, 8)),
        ("alice", _z(2026, 3, 16, 8), _z(2026, 3, 23, 8)),
        ("alice", _z(2026, 3, 30, 7), _z(2026, 4, 6, 7)),  # CEST from March 29
    ]


def test_an_endless_rule_is_cut_at_the_window_and_exdates_are_left_out() -> None:
    data = _ics(
        "DTSTART:20260302T080000Z\nDURATION:PT8H\nRRULE:FREQ=WEEKLY\nEXDATE:20260309T080000Z\n"
        "X-TIERLINE-PERSON:bob"
    )
    layer = _import(data)
    starts = [s.start for s in layer.shifts]
    assert starts[:2] == [_z(2026, 3, 2, 8), _z(2026, 3, 16, 8)]
    assert all(start < WINDOW[1] for start in starts)
    assert len(starts) == 53 - 1  # the weeks of the window, but the excluded one
    assert layer.name == "imported" and {s.layer for s in layer.shifts} == {"imported"}


def test_all_day_events_run_from_local_midnight_to_midnight() -> None:
    data = _ics(
        "DTSTART;VALUE=DATE:20260328\nDTEND;VALUE=DATE:20260330\nSUMMARY:carol",
        "DTSTART;VALUE=DATE:20260401\nSUMMARY:bob",  # no end: one day
    )
    assert _pieces(_import(data)) == [
        ("carol", _z(2026, 3, 27, 23), _z(2026, 3, 29, 22)),  # the 29th is a 23-hour day
        ("bob", _z(2026, 3, 31, 22), _z(2026, 4, 1, 22)),
    ]
    in_new_york = _import(data, zone=NEW_YORK)
    assert in_new_york.shifts[0].start == _z(2026, 3, 28, 4)


def test_floating_times_are_read_in_the_zone_by_the_dst_rule() -> None:
    # 02:30 on 2026-03-29 does not exist in Berlin: it happens at the transition, 03:00 CEST
    data = _ics("DTSTART:20260329T023000\nDTEND:20260329T120000\nSUMMARY:alice")
    assert _pieces(_import(data)) == [("alice", _z(2026, 3, 29, 1), _z(2026, 3, 29, 10))]


def test_the_person_is_x_tierline_person_then_an_attendee_then_the_summary() -> None:
    data = _ics(
        "DTSTART:20260302T080000Z\nDTEND:20260302T090000Z\nSUMMARY:Holiday cover\n"
        "X-TIERLINE-PERSON:carol\nATTENDEE;CN=alice:mailto:alice@example.com",
        "DTSTART:20260303T080000Z\nDTEND:20260303T090000Z\nSUMMARY:Holiday cover\n"
        "ATTENDEE;CN=Someone Else:mailto:else@example.com\nATTENDEE;CN=Bob:mailto:robert@example.com",
        "DTSTART:20260304T080000Z\nDTEND:20260304T090000Z\nSUMMARY:Cover\nATTENDEE:mailto:Alice@example.com",
        "DTSTART:20260305T080000Z\nDTEND:20260305T090000Z\nSUMMARY:  bob  ",
    )
    assert [s.person for s in _import(data).shifts] == ["carol", "bob", "alice", "bob"]


def test_cancelled_events_are_skipped_and_do_not_count_as_overlaps() -> None:
    data = _ics(
        "DTSTART:20260302T080000Z\nDTEND:20260303T080000Z\nSUMMARY:alice",
        "DTSTART:20260302T120000Z\nDTEND:20260302T130000Z\nSUMMARY:ghost\nSTATUS:CANCELLED",
    )
    assert _pieces(_import(data)) == [("alice", _z(2026, 3, 2, 8), _z(2026, 3, 3, 8))]


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", b"\xff\xfe\x00garbage", b"BEGIN:VEVENT\r\nEND:VEVENT\r\n", b'{"json": 1}'],
)
def test_a_file_that_is_not_icalendar_is_refused_naming_the_file(data: bytes) -> None:
    refused = _refusal(data)
    assert refused.field == "file" and "iCalendar" in refused.reason


def test_broken_properties_and_rules_are_refused_naming_the_file() -> None:
    for body in (
        "DTSTART:garbage\nSUMMARY:alice",
        "DTSTART:20260302T080000Z\nDTEND:20260303T080000Z\nRRULE:FREQ=SOMETIMES\nSUMMARY:alice",
    ):
        assert _refusal(_ics(body)).field == "file"


def test_an_unknown_person_is_refused_naming_the_event() -> None:
    data = _ics(
        "DTSTART:20260302T080000Z\nDTEND:20260302T090000Z\nSUMMARY:alice",
        "DTSTART:20260301T080000Z\nDTEND:20260301T090000Z\nSUMMARY:Zed Unknown",  # starts first
    )
    refused = _refusal(data)
    assert refused.field == "events.0.person"
    assert "'Zed Unknown'" in refused.reason and "2026-03-01T08:00:00+00:00" in refused.reason
    nobody = _refusal(_ics("DTSTART:20260302T080000Z\nDTEND:20260302T090000Z"))
    assert nobody.field == "events.0.person" and "names nobody" in nobody.reason


def test_overlapping_events_are_refused_naming_both() -> None:
    data = _ics(
        "DTSTART:20260302T080000Z\nDTEND:20260310T080000Z\nSUMMARY:alice",
        "DTSTART:20260303T080000Z\nDTEND:20260304T080000Z\nSUMMARY:bob",
        "DTSTART:20260305T080000Z\nDTEND:20260306T080000Z\nSUMMARY:carol",
    )
    refused = _refusal(data)
    assert refused.field == "events.1" and "overlaps event 0" in refused.reason
    # a long event overlapping one that is not next to it in order is caught too
    touching = _ics(
        "DTSTART:20260302T080000Z\nDTEND:20260303T080000Z\nSUMMARY:alice",
        "DTSTART:20260303T080000Z\nDTEND:20260304T080000Z\nSUMMARY:bob",
    )
    assert len(_import(touching).shifts) == 2  # back to back is not an overlap


def test_an_event_without_length_is_refused_naming_its_end() -> None:
    refused = _refusal(_ics("DTSTART:20260302T080000Z\nSUMMARY:alice"))
    assert refused.field == "events.0.end"


def test_no_events_in_the_window_is_an_error() -> None:
    past = _ics("DTSTART:20200302T080000Z\nDTEND:20200303T080000Z\nSUMMARY:alice")
    cancelled = _ics("DTSTART:20260302T080000Z\nDTEND:20260303T080000Z\nSUMMARY:alice\nSTATUS:CANCELLED")
    for data in (past, cancelled, _ics()):
        refused = _refusal(data)
        assert (refused.field, refused.reason) == ("file", "the file has no events in the next year")


def test_more_events_than_a_layer_holds_are_refused_naming_the_file() -> None:
    hourly = _ics("DTSTART:20260302T080000Z\nDURATION:PT30M\nRRULE:FREQ=HOURLY\nSUMMARY:alice")
    refused = _refusal(hourly)
    assert refused.field == "file" and str(MAX_CALENDAR_SHIFTS) in refused.reason
    exactly = _ics(
        f"DTSTART:20260302T080000Z\nDURATION:PT30M\nRRULE:FREQ=HOURLY;COUNT={MAX_CALENDAR_SHIFTS}\nSUMMARY:alice"
    )
    assert len(_import(exactly).shifts) == MAX_CALENDAR_SHIFTS


@pytest.mark.parametrize("rule", ["FREQ=SECONDLY", "FREQ=MINUTELY;COUNT=3", "FREQ=HOURLY;BYMINUTE=0,30"])
def test_rules_repeating_more_often_than_hourly_are_refused_before_expansion(rule: str) -> None:
    data = _ics(f"DTSTART:19000101T000000Z\nDURATION:PT1S\nRRULE:{rule}\nSUMMARY:alice")
    refused = _refusal(data)
    assert refused.field == "file" and "hourly" in refused.reason


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30",  # never matches: dateutil walks to the year 9999
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=HOURLY",  # matches, but 1.1 million times before the window
    ],
)
def test_a_rule_searching_long_without_an_occurrence_is_stopped_naming_the_file(rule: str) -> None:
    data = _ics(f"DTSTART:19000101T090000Z\nDURATION:PT1H\nRRULE:{rule}\nSUMMARY:alice")
    began = time_module.monotonic()
    refused = _refusal(data)
    assert time_module.monotonic() - began < EXPANSION_DEADLINE_SECONDS / 2  # stopped by the count
    assert refused.field == "file" and "searches too long" in refused.reason
    assert sys.getprofile() is None  # the hook is gone


def test_a_long_running_daily_rota_from_decades_ago_is_still_read() -> None:
    data = _ics("DTSTART:19900101T090000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY\nSUMMARY:alice")
    layer = _import(data)
    assert len(layer.shifts) == 367  # a day before now to a year after, one an hour each
    assert layer.shifts[0].start == _z(2026, 2, 28, 9)


# -- the property ------------------------------------------------------------------------------

_MINUTES = st.integers(min_value=1, max_value=60 * 24 * 20)


@st.composite
def _disjoint_shifts(draw: st.DrawFn) -> list[Shift]:
    """Non-overlapping shifts of known people, whole seconds, inside the window."""
    at = NOW + timedelta(seconds=draw(st.integers(min_value=0, max_value=86_400)))
    pieces: list[Shift] = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        at += timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 3)))
        end = at + timedelta(minutes=draw(_MINUTES), seconds=draw(st.integers(0, 59)))
        pieces.append(Shift(draw(st.sampled_from(PEOPLE)), at, end, draw(st.sampled_from(["a", "b"]))))
        at = end
    return pieces


@settings(max_examples=60, deadline=None)
@given(_disjoint_shifts(), st.sampled_from([BERLIN, NEW_YORK]))
def test_any_disjoint_shifts_survive_export_and_import(pieces: list[Shift], zone: ZoneInfo) -> None:
    data = calendar_of("x", [("sched", s) for s in pieces], now=NOW)
    layer = layer_from_calendar(data, name="back", zone=zone, people=PEOPLE, window=WINDOW)
    assert _pieces(layer) == [(s.person, s.start, s.end) for s in pieces]
    # and the layer says who is on call as the pieces do
    schedule = Schedule("s", zone, (layer,))
    for piece in pieces:
        assert oncall(schedule, piece.start) == piece.person


_VALID = _ics(
    "DTSTART;TZID=Europe/Berlin:20260302T090000\nDTEND;TZID=Europe/Berlin:20260303T090000\n"
    "RRULE:FREQ=WEEKLY;COUNT=4\nSUMMARY:alice\nATTENDEE;CN=bob:mailto:bob@example.com"
)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_damaged_file_is_refused_as_invalid_never_with_another_error(data: st.DataObject) -> None:
    damaged = bytearray(_VALID)
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        at = data.draw(st.integers(min_value=0, max_value=len(damaged) - 1))
        damaged[at : at + data.draw(st.integers(0, 8))] = data.draw(st.binary(max_size=8))
    try:
        layer = _import(bytes(damaged))
    except InvalidSchedule as refused:
        assert refused.field == "file" or refused.field.startswith("events.")
    else:
        assert layer.shifts and all(s.person in PEOPLE for s in layer.shifts)
