"""On-call schedules: layers of rotating members, restricted to hours of the week, and overrides.

Pure values. Local times (handoffs, restriction hours) are read in the schedule's zone by the
rule of ``localtime.resolve``; overrides and shifts are instants (aware datetimes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tierline_router.domain.schedules.localtime import as_utc
from tierline_shared.errors import InvalidInput

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
EVERY_DAY = frozenset(range(7))
OVERRIDE = "override"  # the ``layer`` of a shift an override makes
MAX_OVERRIDE = timedelta(days=366)  # a year, leap years included
MAX_RANGE = timedelta(days=400)  # the longest span ``shifts`` expands
MAX_CALENDAR_SHIFTS = 5000  # pieces one imported layer may hold
MIDNIGHT = time(0)
MAX_TURN = {"days": 366, "hours": 366 * 24}
EARLIEST, LATEST = date(1900, 1, 1), date(9000, 1, 1)  # beyond: date arithmetic would overflow


class InvalidSchedule(InvalidInput):
    """A schedule, or a question asked of one, that cannot be answered; names the field."""

    type_slug = "invalid-schedule"
    title = "The schedule is not valid"

    def __init__(self, field: str, reason: str) -> None:
        pointer = "/" + field.replace(".", "/")
        super().__init__(
            f"{field}: {reason}", errors=[{"field": field, "reason": reason, "pointer": pointer}]
        )
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Rotation:
    """How long each member's turn lasts: whole local days (a DST day included), or exact hours."""

    every: int
    unit: Literal["days", "hours"]

    @classmethod
    def daily(cls) -> Rotation:
        return cls(1, "days")

    @classmethod
    def weekly(cls) -> Rotation:
        return cls(7, "days")

    @classmethod
    def hours(cls, every: int) -> Rotation:
        return cls(every, "hours")

    @classmethod
    def days(cls, every: int) -> Rotation:
        return cls(every, "days")


@dataclass(frozen=True)
class Restriction:
    """A span of local time starting on each of ``days`` (0 = Monday).

    An ``end`` at or before ``start`` ends on the next day: 22:00-06:00 on Friday runs to
    Saturday 06:00, 09:00-00:00 (written 24:00) runs to midnight, and 00:00-24:00 is a whole day.
    """

    days: frozenset[int]
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Layer:
    """Members taking turns from ``start`` at ``handoff`` (local), only within the restrictions."""

    name: str
    members: tuple[str, ...]
    rotation: Rotation
    handoff: time
    start: date
    restrictions: tuple[Restriction, ...] = ()


@dataclass(frozen=True)
class CalendarLayer:
    """Explicit pieces of on-call time (e.g. imported from an iCalendar file), already expanded.

    Its pieces never overlap one another; between them the layer has nobody.
    """

    name: str
    shifts: tuple[Shift, ...]


@dataclass(frozen=True)
class Override:
    """``person`` covers [start, end), whoever the layers say."""

    person: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Schedule:
    """Layers in rising precedence (a later layer wins where it has someone), then overrides on top."""

    name: str
    timezone: ZoneInfo
    layers: tuple[Layer | CalendarLayer, ...]
    overrides: tuple[Override, ...] = field(default=())


@dataclass(frozen=True)
class Shift:
    """A final piece of on-call time: who, [start, end) in UTC, and the layer (or override) behind it."""

    person: str
    start: datetime
    end: datetime
    layer: str


def parse_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone ``name`` (e.g. Europe/Berlin); an unknown one is an error naming ``field``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a malformed key such as '../x'
        raise InvalidSchedule(field, f"{name!r} is not a known IANA time zone") from None


_EVERY = re.compile(r"every ([0-9]{1,5}) (hours?|days?)")


def parse_rotation(text: str, field: str = "rotation") -> Rotation:
    """'daily', 'weekly', 'every N hours' or 'every N days'."""
    if text == "daily":
        return Rotation.daily()
    if text == "weekly":
        return Rotation.weekly()
    match = _EVERY.fullmatch(text.strip().lower())
    if match is None:
        raise InvalidSchedule(field, "must be daily, weekly, 'every N hours' or 'every N days'")
    unit: Literal["days", "hours"] = "hours" if match[2].startswith("hour") else "days"
    return Rotation(int(match[1]), unit)


def parse_clock(text: str, field: str) -> time:
    """'HH:MM' local time; '24:00' is the end of the day (midnight)."""
    if text == "24:00":
        return MIDNIGHT
    try:
        if len(text) != 5:
            raise ValueError(text)
        return time.fromisoformat(text)
    except ValueError:
        raise InvalidSchedule(field, "must be a time of day as HH:MM (24:00 for the end of a day)") from None


def parse_days(names: Sequence[str], field: str = "days") -> frozenset[int]:
    """Weekday names (mon … sun) as ``date.weekday()`` numbers."""
    days: set[int] = set()
    for index, name in enumerate(names):
        if name.lower() not in WEEKDAYS:
            raise InvalidSchedule(f"{field}.{index}", f"must be one of {', '.join(WEEKDAYS)}")
        days.add(WEEKDAYS.index(name.lower()))
    return frozenset(days)


def validate(schedule: Schedule) -> Schedule:
    """``schedule`` when it can answer who is on call; else InvalidSchedule naming the first bad field."""
    if not schedule.layers:
        raise InvalidSchedule("layers", "a schedule needs at least one layer")
    names: set[str] = set()
    for index, layer in enumerate(schedule.layers):
        where = f"layers.{index}"
        if not layer.name or layer.name == OVERRIDE or layer.name in names:
            raise InvalidSchedule(f"{where}.name", f"must be unique, not empty and not {OVERRIDE!r}")
        names.add(layer.name)
        if isinstance(layer, CalendarLayer):
            _validate_calendar(layer, where)
            continue
        if not EARLIEST <= layer.start < LATEST:
            raise InvalidSchedule(f"{where}.start", f"must be between {EARLIEST} and {LATEST}")
        if not layer.members or not all(layer.members):
            raise InvalidSchedule(f"{where}.members", "a layer needs at least one member, each named")
        if layer.rotation.every <= 0:
            raise InvalidSchedule(f"{where}.rotation", "a rotation must last longer than zero")
        if layer.rotation.every > MAX_TURN[layer.rotation.unit]:
            raise InvalidSchedule(f"{where}.rotation", "a turn lasts at most a year")
        for number, restriction in enumerate(layer.restrictions):
            if not restriction.days:
                raise InvalidSchedule(
                    f"{where}.restrictions.{number}.days", "a restriction without days never matches"
                )
            if not restriction.days <= EVERY_DAY:
                raise InvalidSchedule(f"{where}.restrictions.{number}.days", "days are 0 (Monday) to 6")
    _validate_overrides(schedule)
    return schedule


def _validate_calendar(layer: CalendarLayer, where: str) -> None:
    if len(layer.shifts) > MAX_CALENDAR_SHIFTS:
        raise InvalidSchedule(
            f"{where}.shifts", f"a calendar layer holds at most {MAX_CALENDAR_SHIFTS} shifts"
        )
    for index, shift in enumerate(layer.shifts):
        at = f"{where}.shifts.{index}"
        if not shift.person:
            raise InvalidSchedule(f"{at}.person", "a shift names who is on call")
        for name, moment in (("start", shift.start), ("end", shift.end)):
            if moment.utcoffset() is None:
                raise InvalidSchedule(f"{at}.{name}", "must carry a UTC offset or zone")
            if not EARLIEST <= moment.date() < LATEST:
                raise InvalidSchedule(f"{at}.{name}", f"must be between {EARLIEST} and {LATEST}")
        if as_utc(shift.end) <= as_utc(shift.start):
            raise InvalidSchedule(f"{at}.end", "must be after the start")
    ordered = sorted(range(len(layer.shifts)), key=lambda i: as_utc(layer.shifts[i].start))
    for before, after in pairwise(ordered):
        if as_utc(layer.shifts[after].start) < as_utc(layer.shifts[before].end):
            raise InvalidSchedule(f"{where}.shifts.{after}", f"overlaps shift {before} of the same layer")


def _validate_overrides(schedule: Schedule) -> None:
    for index, override in enumerate(schedule.overrides):
        where = f"overrides.{index}"
        if not override.person:
            raise InvalidSchedule(f"{where}.person", "an override names who covers")
        for name, moment in (("start", override.start), ("end", override.end)):
            if moment.utcoffset() is None:
                raise InvalidSchedule(f"{where}.{name}", "must carry a UTC offset or zone")
        length = as_utc(override.end) - as_utc(override.start)  # same-zone arithmetic ignores DST
        if length <= timedelta(0):
            raise InvalidSchedule(f"{where}.end", "must be after the start")
        if length > MAX_OVERRIDE:
            raise InvalidSchedule(f"{where}.end", "an override lasts at most a year (366 days)")
