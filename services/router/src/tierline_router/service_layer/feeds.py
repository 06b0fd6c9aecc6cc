"""What a calendar feed shows: whole shifts, not shifts cut at the edges of the range asked for.

A calendar app asks for a moving range (by default 30 days back to 180 ahead of now); a shift
cut at the range's start would get a new start, and so a new UID, at every read. Pure functions
over the domain's ``shifts``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from tierline_router.domain.schedules import MAX_RANGE, CalendarLayer, Schedule, Shift, shifts
from tierline_router.domain.schedules.model import EARLIEST, LATEST


def whole_shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts overlapping [start, end), not cut at its edges: the first and last run on to
    where they really begin and end (so a feed's events keep their bounds and UIDs whatever range
    is asked). Looked for within the schedule's longest turn, then ``MAX_RANGE``, beyond each edge;
    a run longer than that (a one-member layer) is cut there."""
    found = shifts(schedule, start, end)
    if found:
        found[0] = _whole_start(schedule, found[0], start)
        found[-1] = _whole_end(schedule, found[-1], end)  # the same shift when it is the only one
    return found


def _whole_start(schedule: Schedule, piece: Shift, cut: datetime) -> Shift:
    floor = datetime.combine(EARLIEST, time(), UTC)
    if piece.start != cut:
        return piece
    for window in (_longest_turn(schedule), MAX_RANGE):
        lo = max(cut - window, floor)
        if lo >= cut:
            break
        before = shifts(schedule, lo, cut)
        if not before or not _same_run(before[-1], piece) or before[-1].end != cut:
            break
        piece = Shift(piece.person, before[-1].start, piece.end, piece.layer)
        if piece.start > lo:  # its real start, not the window's edge
            break
    return piece


def _whole_end(schedule: Schedule, piece: Shift, cut: datetime) -> Shift:
    ceiling = datetime.combine(LATEST, time(), UTC) - timedelta(days=1)
    if piece.end != cut:
        return piece
    for window in (_longest_turn(schedule), MAX_RANGE):
        hi = min(cut + window, ceiling)
        if hi <= cut:
            break
        after = shifts(schedule, cut, hi)
        if not after or not _same_run(after[0], piece) or after[0].start != cut:
            break
        piece = Shift(piece.person, piece.start, after[0].end, piece.layer)
        if piece.end < hi:
            break
    return piece


def _same_run(one: Shift, other: Shift) -> bool:
    return (one.person, one.layer) == (other.person, other.layer)


def _longest_turn(schedule: Schedule) -> timedelta:
    """The longest piece one layer or override can give (a turn takes an hour more on a DST day)."""
    longest = timedelta(hours=1)
    for layer in schedule.layers:
        if isinstance(layer, CalendarLayer):
            longest = max([longest, *(piece.end - piece.start for piece in layer.shifts)])
        else:
            unit = timedelta(hours=1) if layer.rotation.unit == "hours" else timedelta(days=1)
            longest = max(longest, layer.rotation.every * unit + timedelta(hours=1))
    for override in schedule.overrides:
        longest = max(longest, override.end - override.start)
    return min(longest, MAX_RANGE)
