"""The board's view model: filters from the query string, SLA countdowns, rows and their order.

Pure functions over intake's incident list (``GET /v1/incidents`` items): no I/O, so the unit tests
pin what a board shows. A countdown counts to ``due_at`` (the server renders the text as of now and
``countdown.js`` keeps it ticking); it is amber once a warning was sent, red from the policy's last
warning or a breach, negative once past due, and frozen with a pause mark while on hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

OPEN_STATUSES = ("open", "acknowledged", "on_hold")
PRIORITIES = ("P1", "P2", "P3", "P4")
TYPES = ("incident", "service_request")
SORTS = {"sla": "Time left", "priority": "Priority", "newest": "Newest"}
MAX_TEXT = 120  # intake's longest queue and service name


def format_left(seconds: float) -> str:
    """Seconds left as a short figure: ``2d 4h``, ``1h 05m``, ``12m 30s``; ``-3m 10s`` once past due."""
    whole = math.floor(abs(seconds))
    sign = "-" if seconds < 0 and whole > 0 else ""
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m {secs:02d}s"


@dataclass(frozen=True)
class Countdown:
    """One incident's SLA countdown as a board cell shows it."""

    clock: str  # "response" or "resolution"
    seconds: float | None  # signed: negative once past due; None when a breach's time is unknown
    level: str  # "ok", "amber" or "red"
    paused: bool
    breached: bool
    due_at: str | None  # ISO 8601, for the browser to tick from (None while paused)

    @property
    def text(self) -> str:
        return "breached" if self.seconds is None else format_left(self.seconds)

    @property
    def ticking(self) -> bool:
        return self.due_at is not None and not self.paused

    @property
    def css_class(self) -> str:
        return f"sla sla-{self.level}" + (" sla-paused" if self.paused else "")

    @property
    def label(self) -> str:
        """The same in words, for screen readers and tooltips (colour is never the only sign)."""
        state = {"ok": "on track", "amber": "warning sent", "red": "last warning sent"}[self.level]
        if self.breached or (self.seconds is not None and self.seconds < 0):
            state = "breached"
        return f"{self.clock} {state}" + (", paused" if self.paused else "")


LONG_TIME = "%d %b %Y %H:%M UTC"
SHORT_TIME = "%d %b %H:%M UTC"
BAD_TIME = "—"  # what a time an upstream sent malformed shows as


def parse_time(value: Any) -> datetime | None:
    """An upstream's ISO 8601 time, aware (a naive one is taken as UTC); None if absent or malformed."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_time(value: Any, fmt: str = LONG_TIME) -> str:
    """A time as the console shows every time, in UTC (``02 Mar 2026 09:00 UTC``); "" when there is
    none, "—" when it cannot be read. The one formatter of the pages: an offset is converted, never
    just labelled."""
    if value is None or value == "":
        return ""
    parsed = parse_time(value)
    return BAD_TIME if parsed is None else parsed.astimezone(UTC).strftime(fmt)


def countdown(sla: Mapping[str, Any] | None, now: datetime) -> Countdown | None:
    """The countdown of intake's ``sla`` summary as of ``now``; None for an incident without a clock."""
    if not sla:
        return None
    due = parse_time(sla.get("due_at"))
    paused = bool(sla.get("paused"))
    breached = bool(sla.get("breached"))
    seconds: float | None
    if due is not None:
        seconds = (due - now).total_seconds()
    elif isinstance(sla.get("remaining_seconds"), int | float) and not breached:
        seconds = float(sla["remaining_seconds"])  # paused: frozen
    else:
        seconds = None
    if breached and seconds is not None and seconds > 0:
        seconds = 0.0  # announced before our clock reached due_at: never show time left on a breach
    if breached or sla.get("last_warning") or (seconds is not None and seconds < 0):
        level = "red"
    elif sla.get("warning_threshold") is not None:
        level = "amber"
    else:
        level = "ok"
    return Countdown(
        clock=str(sla.get("clock") or "sla"),
        seconds=seconds,
        level=level,
        paused=paused,
        breached=breached,
        due_at=due.isoformat() if due is not None and not paused else None,
    )


def waited_text(waiting_since: Any) -> str | None:
    return format_time(waiting_since, SHORT_TIME) or None


@dataclass(frozen=True)
class Row:
    incident: Mapping[str, Any]
    countdown: Countdown | None
    waiting_since: str | None  # display text; None unless it waits in a queue, held by nobody

    @property
    def id(self) -> str:
        return str(self.incident["id"])


# Every field a row's template reads, so a list item without one (an older intake) shows a gap.
ROW_DEFAULTS: dict[str, Any] = dict.fromkeys(
    (
        "priority",
        "type",
        "service",
        "queue",
        "tier",
        "assignee",
        "waiting_since",
        "vendor",
        "status",
        "sla",
        "created_at",
    )
)


def row_incident(item: Mapping[str, Any]) -> dict[str, Any]:
    filled = {**ROW_DEFAULTS, **item}
    filled["title"] = filled.get("title") or "Untitled incident"
    return filled


def rows(incidents: Iterable[Any], now: datetime) -> list[Row]:
    """A row per listed incident, its missing fields filled; an item without an id cannot be linked
    to and is left out."""
    found: list[Row] = []
    for item in incidents:
        if not isinstance(item, Mapping) or not item.get("id"):
            continue
        incident = row_incident(item)
        sla = incident.get("sla")
        found.append(
            Row(
                incident=incident,
                countdown=countdown(sla if isinstance(sla, Mapping) else None, now),
                waiting_since=waited_text(incident.get("waiting_since")),
            )
        )
    return found


def _priority_rank(row: Row) -> int:
    value = row.incident.get("priority")
    return PRIORITIES.index(value) if value in PRIORITIES else len(PRIORITIES)


def _created(row: Row) -> str:
    return str(row.incident.get("created_at") or "")


def _time_left(row: Row) -> tuple[int, float]:
    """Running or breached clocks first, nearest (most overdue) first; paused ones next; no SLA last."""
    cd = row.countdown
    if cd is None:
        return (2, 0.0)
    seconds = cd.seconds if cd.seconds is not None else -math.inf  # a breach of unknown time: overdue
    return (1 if cd.paused and not cd.breached else 0, seconds)


def sort_rows(items: Sequence[Row], by: str = "sla") -> list[Row]:
    """Sorted by time left (ties: priority, then oldest), by priority, or newest first."""
    ordered = sorted(items, key=_created)  # oldest first as the last tie-break
    if by == "newest":
        return sorted(items, key=_created, reverse=True)
    if by == "priority":
        return sorted(ordered, key=lambda r: (_priority_rank(r), _time_left(r)))
    return sorted(ordered, key=lambda r: (_time_left(r), _priority_rank(r)))


@dataclass(frozen=True)
class Filters:
    """What a board is narrowed by (its GET form); every list empty means "any"."""

    queue: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    service: str | None = None
    status: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    sort: str = "sla"

    def upstream_params(self, **scope: str) -> dict[str, Any]:
        """The query of intake's incident list: this board's scope (tier or queue) and the filters."""
        params: dict[str, Any] = {"status": self.status or list(OPEN_STATUSES), **scope}
        if self.queue and "queue" not in scope:
            params["queue"] = self.queue
        if self.priority:
            params["priority"] = self.priority
        if self.type:
            params["type"] = self.type
        if self.service:
            params["service"] = self.service
        return params

    def query(self) -> str:
        """The filters as a query string (the fragment route reloads with the same ones)."""
        pairs: list[tuple[str, str]] = [("queue", q) for q in self.queue]
        pairs += [("priority", p) for p in self.priority]
        pairs += [("service", self.service)] if self.service else []
        pairs += [("status", s) for s in self.status]
        pairs += [("type", t) for t in self.type]
        pairs += [("sort", self.sort)] if self.sort != "sla" else []
        return urlencode(pairs)


def _values(params: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v.strip() for v in params.get(name, ()) if v.strip()]


def _choices(
    params: Mapping[str, Sequence[str]], name: str, allowed: Sequence[str], errors: list[str]
) -> list[str]:
    values = _values(params, name)
    for value in values:
        if value not in allowed:
            errors.append(f"{name}: {value[:40]!r} is not one of {', '.join(allowed)}")
    return sorted(set(values), key=values.index)


def parse_filters(params: Mapping[str, Sequence[str]]) -> tuple[Filters, list[str]]:
    """The filters of a query string (name → its values), and what is wrong with them in words."""
    errors: list[str] = []
    queues = _values(params, "queue")
    for name in queues:
        if len(name) > MAX_TEXT:
            errors.append(f"queue: longer than {MAX_TEXT} characters")
    services = _values(params, "service")
    if len(services) > 1:
        errors.append("service: give one service")
    elif services and len(services[0]) > MAX_TEXT:
        errors.append(f"service: longer than {MAX_TEXT} characters")
    sorts = _values(params, "sort")
    sort = sorts[-1] if sorts else "sla"
    if sort not in SORTS:
        errors.append(f"sort: {sort[:40]!r} is not one of {', '.join(SORTS)}")
        sort = "sla"
    filters = Filters(
        queue=sorted(set(queues), key=queues.index),
        priority=_choices(params, "priority", PRIORITIES, errors),
        service=services[0] if services else None,
        status=_choices(params, "status", OPEN_STATUSES, errors),
        type=_choices(params, "type", TYPES, errors),
        sort=sort,
    )
    return filters, errors
