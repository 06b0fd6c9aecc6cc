"""Business calendars: when the SLA clock runs, and how far a duration reaches from a moment.

A calendar is 24x7 (every instant counts) or business hours per weekday in an IANA time
zone, minus holidays. Hours are local wall-clock times; each day's opening spans are
turned into real instants through the zone, so a day on which daylight saving starts or
ends counts the real time between opening and closing — and adding a duration walks
those instants, never local arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")
MAX_WALK_DAYS = 3 * 366  # no SLA reaches further; a guard against calendars that never open
TWENTY_FOUR_SEVEN = "24x7"


class CalendarNeverOpens(ValueError):
    pass


def _parse_span(span: str) -> tuple[int, int]:
    """A span as (start, end) minutes after local midnight; "24:00" is 1440."""
    match = SPAN.match(span)
    if not match:
        raise ValueError(f"{span!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h2 == 24 and m2 != 0:
        raise ValueError(f"{span!r}: 24:MM only as 24:00")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        raise ValueError(f"{span!r} ends before it starts")
    return start, end


def _valid_span(span: str) -> str:
    _parse_span(span)
    return span


def _no_overlap(spans: list[str]) -> list[str]:
    parsed = sorted(_parse_span(s) for s in spans)
    for (_, end), (start, _) in pairwise(parsed):
        if end > start:
            raise ValueError("spans overlap")
    return spans


Span = Annotated[
    str,
    AfterValidator(_valid_span),
    Field(description='Local opening hours, e.g. "09:00-17:30"; "00:00-24:00" is all day'),
]
DaySpans = Annotated[list[Span], AfterValidator(_no_overlap)]


class Calendar(BaseModel):
    """When SLA time runs: always (no ``hours``) or in business hours in ``timezone``, minus holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    timezone: str = Field(default="UTC", description="IANA zone, e.g. Europe/Berlin")
    hours: dict[Weekday, DaySpans] | None = Field(
        default=None, description="Opening spans per weekday; omit for 24x7; a weekday not listed is closed"
    )
    holidays: list[date] = Field(default_factory=list, description="Whole days closed (local dates)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {zone!r}") from exc
        return zone

    @field_validator("hours")
    @classmethod
    def _ever_open(cls, hours: dict[Weekday, list[str]] | None) -> dict[Weekday, list[str]] | None:
        if hours is not None and not any(hours.values()):
            raise ValueError("the calendar is never open (omit hours for 24x7)")
        return hours

    @property
    def is_24x7(self) -> bool:
        return self.hours is None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _open_intervals(
        self, since: datetime, *, closing_counts: bool = True
    ) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals (UTC instants, in order, never overlapping) that end at or after ``since``.

        ``closing_counts``: whether an interval closing exactly at ``since`` still counts (adding zero
        to a due time at closing time must stay put; an instant at closing time is not open).
        """
        assert self.hours is not None
        zone = self.zone
        spans = {day: sorted(_parse_span(s) for s in spans) for day, spans in self.hours.items()}
        holidays = set(self.holidays)
        day = since.astimezone(zone).date() - timedelta(days=1)  # a span may straddle UTC midnight
        last_close = since - timedelta(days=2)
        for _ in range(MAX_WALK_DAYS):
            if day not in holidays:
                for start, end in spans.get(WEEKDAYS[day.weekday()], []):
                    # a span ending in a skipped (spring) hour may reach past the next span's start
                    opens = max(_instant(day, start, zone), last_close)
                    closes = _instant(day, end, zone)
                    if closes <= opens:
                        continue
                    last_close = closes
                    if closes > since or (closing_counts and closes == since):
                        yield opens, closes
            day += timedelta(days=1)
        raise CalendarNeverOpens(f"calendar {self.name!r} has no opening within {MAX_WALK_DAYS} days")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when ``duration`` of business time has passed since ``start``."""
        start = _utc(start)
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        if self.is_24x7:
            return start + duration
        left = duration
        for opens, closes in self._open_intervals(start):
            begin = max(opens, start)
            if begin + left <= closes:
                return (begin + left).astimezone(UTC)
            left -= closes - begin
        raise CalendarNeverOpens(self.name)  # pragma: no cover - the walk raises first

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (zero when ``end`` is not after ``start``)."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return timedelta(0)
        if self.is_24x7:
            return end - start
        total = timedelta(0)
        for opens, closes in self._open_intervals(start):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total

    def is_open(self, moment: datetime) -> bool:
        moment = _utc(moment)
        if self.is_24x7:
            return True
        opens, _ = next(self._open_intervals(moment, closing_counts=False))
        return opens <= moment


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The real instant of a local wall-clock time, ``minutes`` after ``day``'s midnight.

    An ambiguous time (autumn) is its first occurrence; a skipped one (spring) is read with the
    offset before the change, i.e. as the moment the wall clock would have shown it unmoved.
    """
    local = datetime.combine(day + timedelta(days=minutes // 1440), time(0), tzinfo=zone)
    return local.replace(hour=(minutes % 1440) // 60, minute=minutes % 60).astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    """Arithmetic on real instants: an aware datetime in any zone, as UTC."""
    if moment.tzinfo is None:
        raise ValueError("calendar arithmetic needs aware datetimes")
    return moment.astimezone(UTC)


ALWAYS = Calendar(name=TWENTY_FOUR_SEVEN)
