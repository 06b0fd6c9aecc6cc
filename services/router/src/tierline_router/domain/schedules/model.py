"""On-call schedules: layers of rotating members, restricted to hours of the week, and overrides.

Pure values. Local times (handoffs, restriction hours) are read in the schedule's zone by the
rule of ``localtime.resolve``; overrides and shifts are instants (aware datetimes).
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from importlib import resources
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
END_OF_TIME = datetime.combine(LATEST, MIDNIGHT, UTC)  # nothing is answered from here on


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

    @cached_property
    def ordered(self) -> tuple[Shift, ...]:
        """The pieces in UTC, by start (sorted once; ``validate`` makes sure they never overlap)."""
        return tuple(sorted((_utc_shift(s) for s in self.shifts), key=lambda s: s.start))

    @cached_property
    def starts(self) -> list[datetime]:
        """The starts of ``ordered``, for binary search."""
        return [s.start for s in self.ordered]

    def covering(self, at: datetime) -> Shift | None:
        """The piece covering the UTC instant ``at``, if any."""
        return _covering(self.ordered, self.starts, at)


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

    @cached_property
    def validated(self) -> Schedule:
        """This schedule, checked once (``validate``): a refusal is raised again on every ask."""
        _check(self)
        return self

    @cached_property
    def override_timeline(self) -> tuple[Shift, ...]:
        """The overrides flattened once into UTC pieces by start, never overlapping: where overrides
        overlap, the later one wins; a person's touching pieces are one."""
        return _flatten(self.overrides)

    @cached_property
    def override_starts(self) -> list[datetime]:
        return [s.start for s in self.override_timeline]

    def override_at(self, at: datetime) -> Shift | None:
        """The override piece covering the UTC instant ``at``, if any."""
        return _covering(self.override_timeline, self.override_starts, at)


@dataclass(frozen=True)
class Shift:
    """A final piece of on-call time: who, [start, end) in UTC, and the layer (or override) behind it."""

    person: str
    start: datetime
    end: datetime
    layer: str


def _utc_shift(shift: Shift) -> Shift:
    return Shift(shift.person, as_utc(shift.start), as_utc(shift.end), shift.layer)


def _covering(ordered: Sequence[Shift], starts: Sequence[datetime], at: datetime) -> Shift | None:
    index = bisect_right(starts, at) - 1
    return ordered[index] if index >= 0 and at < ordered[index].end else None


def _flatten(overrides: Sequence[Override]) -> tuple[Shift, ...]:
    """One sweep over the overrides' boundaries; a heap holds those running, the latest on top."""
    spans = sorted((as_utc(o.start), as_utc(o.end), -number, o.person) for number, o in enumerate(overrides))
    cuts = sorted({t for start, end, _, _ in spans for t in (start, end)})
    running: list[tuple[int, datetime, str]] = []  # (-number, end, person)
    pieces: list[Shift] = []
    following = 0
    for lo, hi in pairwise(cuts):
        while following < len(spans) and spans[following][0] <= lo:
            _, end, rank, person = spans[following]
            heapq.heappush(running, (rank, end, person))
            following += 1
        while running and running[0][1] <= lo:  # the latest has ended: the next latest shows
            heapq.heappop(running)
        if not running:
            continue
        person = running[0][2]
        last = pieces[-1] if pieces else None
        if last is not None and last.end == lo and last.person == person:
            pieces[-1] = Shift(person, last.start, hi, OVERRIDE)
        else:
            pieces.append(Shift(person, lo, hi, OVERRIDE))
    return tuple(pieces)


@cache
def zone_keys() -> frozenset[str]:
    """Every IANA key the pinned ``tzdata`` package lists: the same on every host, and only real
    zones (no 'localtime', 'posix/…', 'right/…' or directories such as 'Europe')."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())


def parse_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone ``name`` (e.g. Europe/Berlin); a key ``tzdata`` does not list is refused naming
    ``field``."""
    refusal = InvalidSchedule(field, f"{name!r} is not a known IANA time zone (such as Europe/Berlin)")
    if name not in zone_keys():
        raise refusal
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # listed but unreadable: still the input's
        raise refusal from None


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


def parse_clock(text: str, field: str, *, end_of_day: bool = False) -> time:
    """'HH:MM' local time; '24:00' is the end of the day (midnight), only where ``end_of_day`` allows it
    (a restriction's end)."""
    if text == "24:00":
        if end_of_day:
            return MIDNIGHT
        raise InvalidSchedule(field, "24:00 only ends a restriction: write 00:00 for midnight")
    try:
        if len(text) != 5:
            raise ValueError(text)
        return time.fromisoformat(text)
    except ValueError:
        hint = " (24:00 for the end of a day)" if end_of_day else ""
        raise InvalidSchedule(field, f"must be a time of day as HH:MM{hint}") from None


def parse_days(names: Sequence[str], field: str = "days") -> frozenset[int]:
    """Weekday names (mon … sun) as ``date.weekday()`` numbers."""
    days: set[int] = set()
    for index, name in enumerate(names):
        if name.lower() not in WEEKDAYS:
            raise InvalidSchedule(f"{field}.{index}", f"must be one of {', '.join(WEEKDAYS)}")
        days.add(WEEKDAYS.index(name.lower()))
    return frozenset(days)


def instant(at: datetime, field: str) -> datetime:
    """``at`` in UTC; InvalidSchedule naming ``field`` without an offset or outside the years
    answered (checked on the local date, before converting: year 1 or 9999 would overflow)."""
    if at.utcoffset() is None:
        raise InvalidSchedule(field, "must carry a UTC offset or zone")
    if not EARLIEST <= at.date() < LATEST:
        raise InvalidSchedule(field, f"must be between {EARLIEST} and {LATEST}")
    return as_utc(at)


def validate(schedule: Schedule) -> Schedule:
    """``schedule`` when it can answer who is on call; else InvalidSchedule naming the first bad field.

    The check runs once per schedule object (``Schedule.validated``): ``oncall`` and ``shifts`` ask
    it on every call for the price of an attribute read.
    """
    return schedule.validated


def _check(schedule: Schedule) -> None:
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
    for index, override in enumerate(schedule.overrides):
        validate_override(override, f"overrides.{index}")


def _validate_calendar(layer: CalendarLayer, where: str) -> None:
    if not layer.shifts:
        raise InvalidSchedule(f"{where}.shifts", "a layer needs at least one shift")
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


def validate_override(override: Override, where: str) -> None:
    """The override's own limits; fields named under ``where`` (``overrides.0``; "" for none)."""
    at = f"{where}." if where else ""
    if not override.person:
        raise InvalidSchedule(f"{at}person", "an override names who covers")
    for name, moment in (("start", override.start), ("end", override.end)):
        instant(moment, f"{at}{name}")
    length = as_utc(override.end) - as_utc(override.start)  # same-zone arithmetic ignores DST
    if length <= timedelta(0):
        raise InvalidSchedule(f"{at}end", "must be after the start")
    if length > MAX_OVERRIDE:
        raise InvalidSchedule(f"{at}end", "an override lasts at most a year (366 days)")
