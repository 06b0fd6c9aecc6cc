"""Wall-clock times in a schedule's zone turned into instants, with one rule for DST days.

Every local time a schedule names (a handoff, a restriction's start or end) goes through
``resolve``, so rotations and restrictions agree on what a DST day does:

- a wall time that happens once is that instant;
- an ambiguous wall time (clocks fall back, it happens twice) is its **first occurrence**
  — zoneinfo's ``fold=0``, the offset in force before the transition;
- a wall time that does not exist (clocks spring forward over it) happens at the **first
  instant after the gap**, the transition itself: 02:30 on the last Sunday of March in
  Europe/Berlin is 03:00 CEST (01:00 UTC). zoneinfo alone (``fold=0``) would give 03:30,
  moving the time by the length of the gap; the first real instant is what a person
  looking at the clock expects.

Instants are returned in UTC: comparing or subtracting two datetimes that share a zoneinfo
object ignores ``fold`` and the offset, which is wrong across a DST change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def resolve(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) at which ``clock`` on ``day`` happens in ``zone``, by the module's rule."""
    wall = datetime.combine(day, clock)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists; the first occurrence when it happens twice
    # In a gap zoneinfo reads fold=0 with the offset before the jump (an instant after it) and
    # fold=1 with the offset after (an instant before it): the transition lies in between.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after_offset = first.astimezone(zone).utcoffset()
    low, high = 0, int((first - before).total_seconds())  # seconds after ``before``
    while high - low > 1:  # transitions fall on whole seconds
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return before + timedelta(seconds=high)


def local_date(at: datetime, zone: ZoneInfo) -> date:
    """The calendar date in ``zone`` at the instant ``at``."""
    return at.astimezone(zone).date()


def as_utc(at: datetime) -> datetime:
    return at.astimezone(UTC)
