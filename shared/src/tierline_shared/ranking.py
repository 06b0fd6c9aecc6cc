"""Match order of a catalog whose entries are tried in turn, the first match winning.

Pure and generic: where an entry goes when placed at a rank or next to another entry, how a
re-applied config file keeps API-made entries where they were, and which entries can never
match because earlier ones take everything they would. ``tierline_shared.catalog`` applies it to
every ranked catalog (queues, escalation and SLA policies).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from tierline_shared.errors import InvalidInput

# Per filter dimension (services, priorities, ...), the values an entry accepts; empty: any value.
Filters = Mapping[str, frozenset[str]]
# Dimensions whose every value is known (priorities): listing them all is the same as "any".
Universes = Mapping[str, frozenset[str]]
WarningCode = Literal["placed_last", "shadowed", "shadows"]
T = TypeVar("T")
# Cuts of an entry's incidents before shadowing falls back to comparing single entries; also bounds
# the recursion, well under Python's limit.
MAX_STEPS = 500


@dataclass(frozen=True)
class Placement:
    """Where a written entry goes: at a rank (1 = tried first), before or after a named entry, or unsaid."""

    rank: int | None = None
    before: str | None = None
    after: str | None = None

    def __post_init__(self) -> None:
        given = [f for f in ("rank", "before", "after") if getattr(self, f) is not None]
        if len(given) > 1:
            raise InvalidInput(
                f"Give one of rank, before or after, not {' and '.join(given)}.",
                errors=[
                    {"field": f, "reason": "give only one of rank, before or after", "pointer": f"/{f}"}
                    for f in given
                ],
            )

    @property
    def is_given(self) -> bool:
        return self.rank is not None or self.before is not None or self.after is not None


class Rankable(Protocol):
    """Anything stored with a name and a rank (a table row)."""

    name: str
    rank: int


def renumber(items: Sequence[Rankable], order: Sequence[str]) -> None:
    """Give ``items`` the ranks 1, 2, 3 … of their names in ``order`` (any it leaves out follow it)."""
    by_name = {item.name: item for item in items}
    named = [name for name in order if name in by_name]
    rest = [item.name for item in items if item.name not in set(named)]
    for rank, name in enumerate([*named, *rest], 1):
        if by_name[name].rank != rank:
            by_name[name].rank = rank


@dataclass(frozen=True)
class Entry:
    """A catalog entry as matching sees it: its name and the filters an incident must pass."""

    name: str
    filters: Filters


@dataclass(frozen=True)
class CatalogWarning:
    """Something about an entry's place the operator should know; the change itself went through."""

    code: WarningCode
    detail: str
    entries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ranked(Generic[T]):
    """An entry (any representation) with the warnings about its place in the match order."""

    item: T
    warnings: tuple[CatalogWarning, ...] = ()


def _invalid(field: str, reason: str, detail: str) -> InvalidInput:
    return InvalidInput(
        f"{field}: {detail}", errors=[{"field": field, "reason": reason, "pointer": f"/{field}"}]
    )


def place(order: Sequence[str], name: str, placement: Placement, *, what: str) -> list[str]:
    """The match order with ``name`` put where ``placement`` says (it may already be in ``order``).

    Unsaid, a new entry goes last and an existing one stays where it is. ``what`` names the
    kind of entry in error messages ("escalation policy", "L2 queue").
    """
    rest = [n for n in order if n != name]
    if placement.rank is not None:
        last = len(rest) + 1
        if not 1 <= placement.rank <= last:
            raise _invalid(
                "rank",
                f"must be from 1 (first) to {last} (last)",
                f"{placement.rank} is out of range; 1 is tried first and {last} last.",
            )
        index = placement.rank - 1
    elif placement.before is not None:
        index = _index_of(rest, name, placement.before, "before", what)
    elif placement.after is not None:
        index = _index_of(rest, name, placement.after, "after", what) + 1
    elif len(rest) < len(order):
        return list(order)
    else:
        index = len(rest)
    return [*rest[:index], name, *rest[index:]]


def _index_of(rest: Sequence[str], name: str, other: str, field: str, what: str) -> int:
    if other == name:
        raise _invalid(field, "names the entry itself", f"a {what} cannot be placed next to itself.")
    if other not in rest:
        raise _invalid(
            field, f"no {what} named {other!r}", f"there is no {what} named {other!r} to place it {field}."
        )
    return rest.index(other)


def reapply(current: Sequence[str], declared: Sequence[str]) -> list[str]:
    """The match order after a config file is applied again.

    The file's entries (``declared``) take the file's order. The others (made through the API, or
    dropped from the file) keep their place relative to the file's: those in front of every file
    entry stay first, those after every file entry stay last, and any other stays right in front
    of the file entry that followed it; each group keeps its own order. So an unchanged file
    leaves the order as it was, whatever the API did in between.
    """
    is_declared = set(declared)
    head: list[str] | None = None  # in front of every file entry
    runs: dict[str, list[str]] = {}  # in front of this file entry
    run: list[str] = []
    for name in current:
        if name not in is_declared:
            run.append(name)
            continue
        if head is None:
            head = run
        else:
            runs[name] = run
        run = []
    grouped = itertools.chain.from_iterable([*runs.get(n, []), n] for n in declared)
    return [*(head or []), *grouped, *run]


def _accepted(entry: Entry, dimension: str, universes: Universes) -> frozenset[str] | None:
    """The values ``entry`` accepts on ``dimension``; None for any."""
    values = entry.filters.get(dimension, frozenset())
    universe = universes.get(dimension)
    if not values or (universe is not None and universe <= values):
        return None
    return values


def _covers(earlier: Entry, later: Entry, dimensions: Sequence[str], universes: Universes) -> bool:
    """Every incident ``later`` matches, ``earlier`` matches too (broader or equal on every dimension)."""
    for dimension in dimensions:
        wide, narrow = _accepted(earlier, dimension, universes), _accepted(later, dimension, universes)
        if wide is not None and (narrow is None or not narrow <= wide):
            return False
    return True


# A part of one dimension: (False, values) is those values; (True, values) every value but those.
_Part = tuple[bool, frozenset[str]]
_Box = dict[str, _Part]


class _TooComplex(Exception):
    pass


def _meets(part: _Part, accepted: frozenset[str] | None) -> bool:
    is_complement, values = part
    return accepted is None or bool(accepted - values if is_complement else accepted & values)


def _within(part: _Part, accepted: frozenset[str] | None) -> bool:
    is_complement, values = part
    return accepted is None or (not is_complement and values <= accepted)


def _split(part: _Part, accepted: frozenset[str]) -> tuple[_Part, _Part | None]:
    """``part`` inside ``accepted`` and outside it (None when nothing is left outside)."""
    is_complement, values = part
    if is_complement:
        return (False, accepted - values), (True, values | accepted)
    outside = values - accepted
    return (False, values & accepted), ((False, outside) if outside else None)


def _takers(box: _Box, entries: Sequence[Entry], universes: Universes, budget: list[int]) -> set[str] | None:
    """Who is first to match each incident in ``box``; None when some of them no entry matches."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooComplex
    position = next(
        (i for i, e in enumerate(entries) if all(_meets(box[d], _accepted(e, d, universes)) for d in box)),
        None,
    )
    if position is None:
        return None
    entry = entries[position]
    cut = next(
        (
            (d, accepted)
            for d in box
            if (accepted := _accepted(entry, d, universes)) is not None and not _within(box[d], accepted)
        ),
        None,
    )
    if cut is None:
        return {entry.name}
    dimension, accepted = cut
    inside, outside = _split(box[dimension], accepted)
    takers = _takers({**box, dimension: inside}, entries[position:], universes, budget)
    if takers is None or outside is None:
        return takers
    rest = _takers({**box, dimension: outside}, entries[position + 1 :], universes, budget)
    return None if rest is None else takers | rest


def shadowers(
    entries: Sequence[Entry], index: int, universes: Universes | None = None, *, max_steps: int = MAX_STEPS
) -> list[str]:
    """The earlier entries that take every incident ``entries[index]`` matches; empty if some reach it.

    The incidents it matches are cut along the filters of the earlier entries until each part is
    taken whole by the first entry matching it, or matched by none (then the entry is reached).
    The answer is exactly the entries that take some of its incidents. Past ``max_steps`` cuts,
    only single earlier entries are compared with it.
    """
    universes = universes or {}
    target, earlier = entries[index], entries[:index]
    dimensions = sorted({d for e in entries[: index + 1] for d in e.filters})
    box: _Box = {}
    for dimension in dimensions:
        accepted, universe = _accepted(target, dimension, universes), universes.get(dimension)
        box[dimension] = (
            (False, accepted)
            if accepted is not None
            else (False, universe)
            if universe
            else (True, frozenset())
        )
    try:
        takers = _takers(box, earlier, universes, [max_steps])
    except _TooComplex:
        cover = next((e for e in earlier if _covers(e, target, dimensions, universes)), None)
        return [cover.name] if cover is not None else []
    return [e.name for e in earlier if e.name in takers] if takers else []


def _title(what: str) -> str:
    return what[:1].upper() + what[1:]


def _ranked(names: Sequence[str], order: Sequence[str]) -> str:
    return ", ".join(f"{n!r} (rank {order.index(n) + 1})" for n in names)


def _shadowed(entries: Sequence[Entry], index: int, universes: Universes, what: str) -> CatalogWarning | None:
    takers = shadowers(entries, index, universes)
    if not takers:
        return None
    order = [e.name for e in entries]
    return CatalogWarning(
        "shadowed",
        f"{_title(what)} {order[index]!r} is never reached: every incident it matches is taken "
        f"first by {_ranked(takers, order)}. Place it before {takers[0]!r} to have it take them all, "
        "or narrow those entries' filters.",
        tuple(takers),
    )


def review(
    entries: Sequence[Entry], universes: Universes | None = None, *, what: str
) -> dict[str, tuple[CatalogWarning, ...]]:
    """Per entry name, the warnings its place in the order earns (entries never reached)."""
    notes: dict[str, tuple[CatalogWarning, ...]] = {}
    for index, entry in enumerate(entries):
        warning = _shadowed(entries, index, universes or {}, what)
        notes[entry.name] = (warning,) if warning is not None else ()
    return notes


def placement_warnings(
    entries: Sequence[Entry],
    name: str,
    universes: Universes | None = None,
    *,
    what: str,
    is_placed_last: bool,
) -> tuple[CatalogWarning, ...]:
    """The warnings for an entry just written at its place in ``entries`` (the whole new order).

    Placed last because nothing was said; never reached behind broader entries; or, placed early,
    taking every incident later entries would match.
    """
    universes = universes or {}
    order = [e.name for e in entries]
    index = order.index(name)
    warnings: list[CatalogWarning] = []
    if is_placed_last:
        warnings.append(
            CatalogWarning(
                "placed_last",
                f"No rank, before or after was given, so {what} {name!r} was placed last (rank {index + 1}); "
                "every entry above it is tried first.",
            )
        )
    shadowed = _shadowed(entries, index, universes, what)
    if shadowed is not None:
        warnings.append(shadowed)
    takers = {order[i]: shadowers(entries, i, universes) for i in range(index + 1, len(order))}
    hidden = [later for later, by in takers.items() if name in by]
    if hidden:
        others = " and other earlier entries" if any(set(takers[h]) - {name} for h in hidden) else ""
        verb = "it is" if len(hidden) == 1 else "they are"
        warnings.append(
            CatalogWarning(
                "shadows",
                f"Every incident {_ranked(hidden, order)} would match is taken first by {name!r} "
                f"(rank {index + 1}){others}, so {verb} never reached.",
                tuple(hidden),
            )
        )
    return tuple(warnings)
