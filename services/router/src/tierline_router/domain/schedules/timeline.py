"""Who is on call: each layer's turns within its restrictions, later layers over earlier, overrides on top.

``oncall`` answers for one instant straight from the rules; ``shifts`` paints a whole range.
The two are computed independently, so the tests can hold one against the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from tierline_router.domain.schedules.localtime import as_utc, local_date, resolve
from tierline_router.domain.schedules.model import (
    EARLIEST,
    LATEST,
    MAX_RANGE,
    OVERRIDE,
    CalendarLayer,
    InvalidSchedule,
    Layer,
    Restriction,
    Schedule,
    Shift,
    validate,
)

DAY = timedelta(days=1)


def oncall(schedule: Schedule, at: datetime) -> str | None:
    """Who is on call at ``at``: the last override covering it, else the last layer with someone."""
    validate(schedule)
    at = _instant(at, "at")
    for override in reversed(schedule.overrides):
        if as_utc(override.start) <= at < as_utc(override.end):
            return override.person
    for layer in reversed(schedule.layers):
        if isinstance(layer, CalendarLayer):
            covering = next((s for s in layer.shifts if as_utc(s.start) <= at < as_utc(s.end)), None)
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
    range longer than ``MAX_RANGE`` is refused.
    """
    validate(schedule)
    start, end = _instant(start, "start"), _instant(end, "end")
    if end <= start:
        raise InvalidSchedule("end", "must be after the start")
    if end - start > MAX_RANGE:
        raise InvalidSchedule("end", f"a range spans at most {MAX_RANGE.days} days")
    sources = [_layer_pieces(layer, schedule.timezone, start, end) for layer in schedule.layers]
    for override in schedule.overrides:  # each its own source: a later override wins over an earlier
        clipped = _clip(
            Shift(override.person, as_utc(override.start), as_utc(override.end), OVERRIDE), start, end
        )
        sources.append([clipped] if clipped else [])
    return _merged(_paint(sources, start, end))


def _instant(at: datetime, field: str) -> datetime:
    if at.utcoffset() is None:
        raise InvalidSchedule(field, "must carry a UTC offset or zone")
    if not EARLIEST <= at.date() < LATEST:
        raise InvalidSchedule(field, f"must be between {EARLIEST} and {LATEST}")
    return as_utc(at)


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
        pieces = (
            _clip(Shift(s.person, as_utc(s.start), as_utc(s.end), layer.name), start, end)
            for s in layer.shifts
        )
        return sorted((p for p in pieces if p is not None), key=lambda p: p.start)
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
