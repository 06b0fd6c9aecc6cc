"""Who is on call: each layer's turns within its restrictions, later layers over earlier, overrides on top.

``oncall`` answers for one instant straight from the rules; ``shifts`` paints a whole range.
The two are computed independently, so the tests can hold one against the other.

``oncall`` runs for every routing decision: it costs a binary search per calendar layer and one in
the overrides, which a schedule flattens once (``Schedule.override_timeline``); a schedule is
validated once, not per call (``Schedule.validated``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from tierline_router.domain.schedules.localtime import as_utc, local_date, resolve
from tierline_router.domain.schedules.model import (
    END_OF_TIME,
    LATEST,
    MAX_RANGE,
    CalendarLayer,
    InvalidSchedule,
    Layer,
    Restriction,
    Schedule,
    Shift,
    instant,
)

DAY = timedelta(days=1)
# ``until`` looks this far ahead, a window at a time: most shifts end within a day
UNTIL_WINDOWS = (timedelta(days=1), timedelta(days=31), MAX_RANGE)


def oncall(schedule: Schedule, at: datetime) -> str | None:
    """Who is on call at ``at``: the last override covering it, else the last layer with someone."""
    schedule = schedule.validated  # checked once per schedule object
    at = instant(at, "at")
    override = schedule.override_at(at)
    if override is not None:
        return override.person
    for layer in reversed(schedule.layers):
        if isinstance(layer, CalendarLayer):
            covering = layer.covering(at)
            if covering is not None:
                return covering.person
        elif _is_restricted_in(layer, schedule.timezone, at):
            turn = _turn_at(layer, schedule.timezone, at)
            if turn is not None:
                return layer.members[turn % len(layer.members)]
    return None


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """The final shifts in [start, end) (UTC), in order, without gaps filled or overlaps.

    A person's adjacent pieces from the same layer (or both from overrides) are one shift; a
    range longer than ``MAX_RANGE`` is refused. Nothing is listed from ``END_OF_TIME`` (9000-01-01)
    on: an ``end`` beyond it is cut there.
    """
    schedule = schedule.validated
    start = instant(start, "start")
    if end.utcoffset() is None:
        raise InvalidSchedule("end", "must carry a UTC offset or zone")
    if end <= start:  # aware datetimes compare (and subtract) without converting: no overflow
        raise InvalidSchedule("end", "must be after the start")
    if end - start > MAX_RANGE:
        raise InvalidSchedule("end", f"a range spans at most {MAX_RANGE.days} days")
    end = END_OF_TIME if end.date() >= LATEST else min(as_utc(end), END_OF_TIME)
    if end <= start:
        return []
    sources = [_layer_pieces(layer, schedule.timezone, start, end) for layer in schedule.layers]
    sources.append(_within(schedule.override_timeline, schedule.override_starts, start, end))
    return _merged(_paint(sources, start, end))


def until(schedule: Schedule, at: datetime, person: str) -> datetime | None:
    """When ``person``'s time on call that runs at ``at`` ends, across touching shifts of theirs
    (from any layer or override); None when it reaches past ``at + MAX_RANGE`` (or the end of
    time), or when ``person`` is not on call at ``at``.

    Looks a day ahead, then 31 days, then ``MAX_RANGE``: only a shift that long paints 400 days.
    """
    at = instant(at, "at")
    for window in UNTIL_WINDOWS:
        horizon = min(at + window, END_OF_TIME)
        if horizon <= at:
            return None
        reached = at
        for shift in shifts(schedule, at, horizon):
            if shift.person != person or shift.start != reached:
                break
            reached = shift.end
        if reached == at:
            return None  # not on call at ``at``
        if reached < horizon:
            return reached
        if horizon == END_OF_TIME:
            return None
    return None


def _within(
    ordered: Sequence[Shift], starts: Sequence[datetime], start: datetime, end: datetime
) -> list[Shift]:
    """The pieces of an ordered, disjoint timeline overlapping [start, end), clipped to it."""
    first = max(bisect_right(starts, start) - 1, 0)
    last = bisect_left(starts, end)
    return [c for piece in ordered[first:last] if (c := _clip(piece, start, end)) is not None]


# -- one layer ---------------------------------------------------------------------------------


def _turn_start(layer: Layer, zone: ZoneInfo, turn: int) -> datetime:
    """When turn number ``turn`` begins: whole local days from the start, or exact elapsed hours."""
    if layer.rotation.unit == "hours":
        return resolve(layer.start, layer.handoff, zone) + turn * timedelta(hours=layer.rotation.every)
    return resolve(layer.start + turn * layer.rotation.every * DAY, layer.handoff, zone)


def _turn_at(layer: Layer, zone: ZoneInfo, at: datetime) -> int | None:
    """The number of the turn running at ``at``; None before the layer's first handoff."""
    if layer.rotation.unit == "hours":
        turn = (at - resolve(layer.start, layer.handoff, zone)) // timedelta(hours=layer.rotation.every)
    else:
        turn = (local_date(at, zone) - layer.start).days // layer.rotation.every
        while at < _turn_start(layer, zone, turn):  # before today's handoff
            turn -= 1
        while at >= _turn_start(layer, zone, turn + 1):
            turn += 1
    return turn if turn >= 0 else None


def _window(restriction: Restriction, zone: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    end_day = day + DAY if restriction.crosses_midnight else day
    return resolve(day, restriction.start, zone), resolve(end_day, restriction.end, zone)


def _windows(layer: Layer, zone: ZoneInfo, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
    """The layer's restriction spans starting on local days ``first`` to ``last``, as they come."""
    day = first
    while day <= last:
        for restriction in layer.restrictions:
            if day.weekday() in restriction.days:
                yield _window(restriction, zone, day)
        day += DAY


def _is_restricted_in(layer: Layer, zone: ZoneInfo, at: datetime) -> bool:
    """Whether ``at`` falls in one of the layer's restrictions (a layer without any always works)."""
    if not layer.restrictions:
        return True
    today = local_date(at, zone)
    return any(s <= at < e for s, e in _windows(layer, zone, today - DAY, today + DAY))


def _layer_pieces(
    layer: Layer | CalendarLayer, zone: ZoneInfo, start: datetime, end: datetime
) -> list[Shift]:
    """The layer's turns in [start, end), cut to its restrictions; ordered and disjoint."""
    if isinstance(layer, CalendarLayer):
        return [
            Shift(p.person, p.start, p.end, layer.name)
            for p in _within(layer.ordered, layer.starts, start, end)
        ]
    turn = max(_turn_at(layer, zone, start) or 0, 0)
    turns: list[Shift] = []
    while (begins := _turn_start(layer, zone, turn)) < end:
        piece = Shift(
            layer.members[turn % len(layer.members)], begins, _turn_start(layer, zone, turn + 1), layer.name
        )
        if clipped := _clip(piece, start, end):
            turns.append(clipped)
        turn += 1
    if not layer.restrictions:
        return turns
    spans = sorted(_windows(layer, zone, local_date(start, zone) - DAY, local_date(end, zone) + DAY))
    united: list[tuple[datetime, datetime]] = []
    for s, e in spans:  # restrictions may overlap one another
        if united and s <= united[-1][1]:
            united[-1] = (united[-1][0], max(united[-1][1], e))
        elif s < e:
            united.append((s, e))
    return _intersect(turns, united)


def _intersect(turns: Sequence[Shift], spans: Sequence[tuple[datetime, datetime]]) -> list[Shift]:
    pieces: list[Shift] = []
    i = j = 0
    while i < len(turns) and j < len(spans):
        turn, (s, e) = turns[i], spans[j]
        lo, hi = max(turn.start, s), min(turn.end, e)
        if lo < hi:
            pieces.append(Shift(turn.person, lo, hi, turn.layer))
        if turn.end < e:
            i += 1
        else:
            j += 1
    return pieces


# -- all layers --------------------------------------------------------------------------------


def _clip(piece: Shift, start: datetime, end: datetime) -> Shift | None:
    lo, hi = max(piece.start, start), min(piece.end, end)
    return Shift(piece.person, lo, hi, piece.layer) if lo < hi else None


def _paint(sources: Sequence[Sequence[Shift]], start: datetime, end: datetime) -> list[Shift]:
    """Each stretch between two boundaries goes to the last source with a piece there."""
    cuts = sorted(
        {start, end} | {t for source in sources for piece in source for t in (piece.start, piece.end)}
    )
    at = [0] * len(sources)  # per source: its first piece not yet wholly behind us
    painted: list[Shift] = []
    for lo, hi in pairwise(cuts):
        for index in reversed(range(len(sources))):
            source = sources[index]
            while at[index] < len(source) and source[at[index]].end <= lo:
                at[index] += 1
            if at[index] < len(source) and source[at[index]].start <= lo:
                winner = source[at[index]]
                painted.append(Shift(winner.person, lo, hi, winner.layer))
                break
    return painted


def _merged(pieces: Sequence[Shift]) -> list[Shift]:
    shifts: list[Shift] = []
    for piece in pieces:
        last = shifts[-1] if shifts else None
        if last and last.end == piece.start and (last.person, last.layer) == (piece.person, piece.layer):
            shifts[-1] = Shift(last.person, last.start, piece.end, last.layer)
        else:
            shifts.append(piece)
    return shifts
