"""On-call shifts as iCalendar (RFC 5545): feeds to subscribe to, and layers imported from files.

``calendar_of`` writes shifts as a published calendar, one VEVENT a shift, in UTC, with a UID
derived from (schedule, person, start): a calendar app re-reading the feed updates an event
instead of adding a copy. ``layer_from_calendar`` reads a file (``icalendar``), expands its
recurrences over a window (``recurring-ical-events``) and makes an imported ``CalendarLayer``.

Reading an upload is bounded: at most ``MAX_CALENDAR_SHIFTS`` occurrences are expanded (the
expansion is lazy, per series), rules repeating more often than hourly are refused, and the
whole expansion has a deadline. A rule can also spin without producing anything (dateutil walks
``FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30`` day by day up to the year 9999, seconds of CPU, inside one
call): while a series expands, a profile hook (this thread only) counts the function calls the
expansion makes and stops a series that makes ``MAX_CALLS_WITHOUT_OCCURRENCE`` calls without
producing an occurrence, or that runs past the deadline. It is synchronous CPU work: run it off
the event loop.
"""

from __future__ import annotations

import sys
import time as _time
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from icalendar.parser import unescape_backslash

from tierline_router.domain.schedules import MAX_CALENDAR_SHIFTS, CalendarLayer, InvalidSchedule, Shift
from tierline_router.domain.schedules.localtime import as_utc, resolve
from tierline_router.domain.schedules.model import EARLIEST, LATEST, MIDNIGHT

MAX_ICS_BYTES = 1024 * 1024  # the largest file an import reads
PRODID = "-//Tierline//On-call//EN"
CATEGORY = "on-call"
UID_NAMESPACE = uuid.UUID("6f1c3c52-3d51-4b39-9a43-6d0c1f1e2a20")  # Tierline on-call shifts
REFRESH = timedelta(hours=1)  # how often subscribed apps are asked to read the feed again
EXPANSION_DEADLINE_SECONDS = 10.0
# calls one series may make between two occurrences (dateutil makes ~3.4 per candidate day: a daily
# rule from 1900 makes ~155,000 before a window in 2026; the cap is about a second of CPU)
MAX_CALLS_WITHOUT_OCCURRENCE = 400_000
_CLOCK_EVERY = 1024  # calls between two looks at the deadline
_TOO_FREQUENT = {"SECONDLY", "MINUTELY"}
_REASON_CHARS = 200


def calendar_of(title: str, shifts: Sequence[tuple[str, Shift]], *, now: datetime) -> bytes:
    """A published VCALENDAR of ``shifts`` (each with its schedule's name), one VEVENT a shift."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", icalendar.vText(title))
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH))
    stamp = _whole_seconds(as_utc(now))
    for schedule, shift in shifts:
        start, end = _whole_seconds(as_utc(shift.start)), _whole_seconds(as_utc(shift.end))
        event = icalendar.Event()
        event.add("uid", shift_uid(schedule, shift.person, start))
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", icalendar.vText(f"On call: {shift.person} ({schedule})"))
        event.add("categories", [CATEGORY])
        event.add("transp", "OPAQUE")
        event.add("x-tierline-person", icalendar.vText(shift.person))
        event.add("x-tierline-schedule", icalendar.vText(schedule))
        event.add("x-tierline-layer", icalendar.vText(shift.layer))
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def shift_uid(schedule: str, person: str, start: datetime) -> str:
    """The same shift (schedule, person, start) always has the same UID."""
    key = f"{schedule}\x1f{person}\x1f{as_utc(start).strftime('%Y%m%dT%H%M%SZ')}"
    return f"{uuid.uuid5(UID_NAMESPACE, key)}@tierline"


@dataclass(frozen=True)
class _Occurrence:
    start: datetime  # UTC
    end: datetime  # UTC
    event: icalendar.Event


def layer_from_calendar(
    data: bytes,
    *,
    name: str,
    zone: ZoneInfo,
    people: Collection[str],
    window: tuple[datetime, datetime],
) -> CalendarLayer:
    """The calendar layer ``name`` that the events of ``data`` make within ``window``.

    Events are numbered in the order they start (cancelled ones left out); refusals name the
    event as ``events.N`` (``events.N.person`` for a person nobody knows) or the ``file``.
    All-day events run from local midnight to midnight in ``zone``; floating times are read
    in ``zone`` by ``localtime.resolve``'s rule.
    """
    calendar = _parse(data)
    occurrences = sorted(_expand(calendar, zone, window), key=lambda o: (o.start, o.end))
    if not occurrences:
        raise InvalidSchedule("file", "the file has no events in the next year")
    if len(occurrences) > MAX_CALENDAR_SHIFTS:
        raise InvalidSchedule("file", _too_many())
    known = {person.casefold(): person for person in people}
    shifts: list[Shift] = []
    reaching = 0  # the event so far that ends last: a later start before its end overlaps it
    for number, occurrence in enumerate(occurrences):
        where = f"events.{number}"
        if occurrence.end <= occurrence.start:
            raise InvalidSchedule(f"{where}.end", f"{_describe(occurrence)} must end after it starts")
        for moment in (occurrence.start, occurrence.end):
            if not EARLIEST <= moment.date() < LATEST:
                raise InvalidSchedule(
                    where, f"{_describe(occurrence)} must lie between {EARLIEST} and {LATEST}"
                )
        shifts.append(Shift(_person(occurrence, known, where), occurrence.start, occurrence.end, name))
        if number and occurrence.start < occurrences[reaching].end:
            raise InvalidSchedule(
                where,
                f"{_describe(occurrence)} overlaps event {reaching} ({_describe(occurrences[reaching])})",
            )
        if occurrence.end > occurrences[reaching].end:
            reaching = number
    return CalendarLayer(name, tuple(shifts))


def _parse(data: bytes) -> icalendar.Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as exc:  # noqa: BLE001 - an upload: whatever the parser trips on is the file's fault
        raise InvalidSchedule("file", f"is not an iCalendar file: {_short(exc)}") from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise InvalidSchedule("file", "is not an iCalendar file: it must hold one VCALENDAR")
    for event in calendar.walk("VEVENT"):
        try:
            rule = event.get("RRULE")
            rules = rule if isinstance(rule, list) else [rule] if rule is not None else []
            too_frequent = any(_too_frequent(one) for one in rules)
        except Exception as exc:  # noqa: BLE001 - a rule the parser could not read
            raise InvalidSchedule("file", f"its events cannot be read: {_short(exc)}") from None
        if too_frequent:
            raise InvalidSchedule(
                "file", f"event {_label(event)!r} repeats more often than hourly, which no rota does"
            )
    return calendar


def _too_frequent(rule: Any) -> bool:
    frequency = [str(f).upper() for f in rule.get("FREQ", [])]
    many = any(len(rule.get(part, [])) > 1 for part in ("BYSECOND", "BYMINUTE"))
    return many or any(f in _TOO_FREQUENT for f in frequency)


class _Spinning(Exception):
    """Raised inside the expansion by the profile hook."""


class _Budget:
    """Counts the calls an expansion makes since its last occurrence, against the deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.calls = 0
        self.late = False

    def hook(self, frame: FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        self.calls += 1
        if self.calls > MAX_CALLS_WITHOUT_OCCURRENCE:
            raise _Spinning
        if self.calls % _CLOCK_EVERY == 0 and _time.monotonic() > self.deadline:
            self.late = True
            raise _Spinning

    @contextmanager
    def watching(self) -> Iterator[None]:
        previous = sys.getprofile()
        sys.setprofile(self.hook)
        try:
            yield
        finally:
            sys.setprofile(previous)


def _expand(
    calendar: icalendar.Calendar, zone: ZoneInfo, window: tuple[datetime, datetime]
) -> Iterator[_Occurrence]:
    """The occurrences (not cancelled) overlapping ``window``, unordered; bounded in count and time."""
    start, end = as_utc(window[0]), as_utc(window[1])
    budget = _Budget(_time.monotonic() + EXPANSION_DEADLINE_SECONDS)
    seen = 0
    try:
        query = recurring_ical_events.of(calendar)
        for series in query.series:
            found = _series_between(series, start, end, budget)
            for event in found:
                seen += 1
                if seen > 2 * MAX_CALENDAR_SHIFTS:
                    raise InvalidSchedule("file", _too_many())
                if str(event.get("STATUS", "")).upper() == "CANCELLED":
                    continue
                occurrence = _occurrence(event, zone)
                if occurrence.end > start and occurrence.start < end:
                    yield occurrence
    except InvalidSchedule:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken property, rule or zone in the upload
        raise InvalidSchedule("file", f"its events cannot be read: {_short(exc)}") from None


def _series_between(series: Any, start: datetime, end: datetime, budget: _Budget) -> list[icalendar.Event]:
    """One series' occurrences in [start, end) as events, expanded under the budget's watch."""
    found: list[icalendar.Event] = []
    budget.calls = 0
    try:
        with budget.watching():
            for occurrence in series.between(start, end):
                budget.calls = 0  # it produced one: the count starts again
                found.append(occurrence.as_component(False))
                if len(found) > 2 * MAX_CALENDAR_SHIFTS:
                    break
    except _Spinning:
        label = _series_label(series)
        if budget.late:
            raise InvalidSchedule("file", _too_many()) from None
        raise InvalidSchedule(
            "file",
            f"event {label!r} repeats by a rule that searches too long without an occurrence"
            " (one that never or very rarely matches, or starts long before the next year)",
        ) from None
    return found


def _series_label(series: Any) -> str:
    try:
        return _label(series.components[0].as_component(False))
    except Exception:  # noqa: BLE001 - only for the message
        return str(getattr(series, "uid", "untitled"))[:100]


def _too_many() -> str:
    return f"the file expands to more than {MAX_CALENDAR_SHIFTS} events in the next year"


def _occurrence(event: icalendar.Event, zone: ZoneInfo) -> _Occurrence:
    begins = event.decoded("DTSTART")
    if "DTEND" in event:
        ends = event.decoded("DTEND")
    elif "DURATION" in event:
        ends = begins + event.decoded("DURATION")
    else:  # RFC 5545 3.6.1: a day for a date, no time at all for a date-time
        ends = begins + timedelta(days=1) if not isinstance(begins, datetime) else begins
    return _Occurrence(_instant(begins, zone), _instant(ends, zone), event)


def _instant(moment: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(moment, datetime):  # an all-day event: local midnight
        return resolve(moment, MIDNIGHT, zone)
    if moment.utcoffset() is None:  # floating: the schedule's local time
        return resolve(moment.date(), moment.time(), zone)
    return as_utc(moment)


def _person(occurrence: _Occurrence, known: dict[str, str], where: str) -> str:
    event = occurrence.event
    named = _text(event.get("X-TIERLINE-PERSON")).strip()
    if not named:
        attendees = event.get("ATTENDEE", [])
        for attendee in attendees if isinstance(attendees, list) else [attendees]:
            address = str(attendee)
            local = (
                address.split(":", 1)[-1].split("@", 1)[0] if address.lower().startswith("mailto:") else ""
            )
            for candidate in (str(attendee.params.get("CN", "")).strip(), local.strip()):
                if candidate.casefold() in known:
                    return known[candidate.casefold()]
        named = str(event.get("SUMMARY", "")).strip()
    if not named:
        raise InvalidSchedule(
            f"{where}.person",
            f"{_describe(occurrence)} names nobody: give it X-TIERLINE-PERSON, an ATTENDEE or a SUMMARY",
        )
    if named.casefold() not in known:
        raise InvalidSchedule(f"{where}.person", f"{_describe(occurrence)}: {named!r} is not a known agent")
    return known[named.casefold()]


def _text(value: object) -> str:
    """A text property's value: unknown (X-) properties come back still escaped."""
    if value is None:
        return ""
    return str(value) if isinstance(value, icalendar.vText) else unescape_backslash(str(value))


def _describe(occurrence: _Occurrence) -> str:
    return f"the event {_label(occurrence.event)!r} starting {occurrence.start.isoformat()}"


def _label(event: icalendar.Component) -> str:
    return str(event.get("SUMMARY") or event.get("UID") or "untitled")[:100]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:_REASON_CHARS]


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)
