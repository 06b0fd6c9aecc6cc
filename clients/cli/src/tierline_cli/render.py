"""Tables for people. Every value from the API goes in as plain Text, never as rich markup."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

Getter = str | Callable[[Mapping[str, Any]], Any]
Column = tuple[str, Getter]
NONE = Text("-", style="dim")


PIPE_WIDTH = 1000  # piped or redirected output: whole lines, for grep and less -S


def console() -> Console:
    """A console on the current stdout (click's test runner swaps it), without guessing highlights."""
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(highlight=False, width=PIPE_WIDTH)
    return out


def show(*renderables: RenderableType) -> None:
    out = console()
    for renderable in renderables:
        if isinstance(renderable, Table) and not out.is_terminal:
            renderable.expand = False  # a pipe gets whole lines, not lines padded to its width
        out.print(renderable)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def emit_json(data: Any) -> None:
    click.echo(dumps(data))


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: str | None, *, seconds: bool = True) -> str:
    """An API timestamp in UTC: 2026-11-23 14:05:07Z (or 14:05Z without seconds)."""
    parsed = parse_time(value)
    if parsed is None:
        return value or "-"
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ" if seconds else "%Y-%m-%d %H:%MZ")


def duration(seconds: float | None) -> str:
    """A span in its two largest units: 45s, 4m 10s, 1h 30m, 2d 3h."""
    if seconds is None:
        return "-"
    total = round(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def relative(value: str | None, now: datetime) -> str:
    """How far a due time is from now: "in 3h 58m" or "12m ago"."""
    parsed = parse_time(value)
    if parsed is None:
        return "-"
    seconds = (parsed - now).total_seconds()
    return f"in {duration(seconds)}" if seconds >= 0 else f"{duration(seconds)} ago"


def text(value: Any) -> Text:
    """One cell: lists joined, booleans as yes/no, nested objects as compact JSON, None as '-'."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list | tuple):
        return Text(", ".join(str(v) for v in value)) if value else NONE
    if isinstance(value, dict):
        return Text(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))
    return Text(str(value))


def _get(row: Mapping[str, Any], getter: Getter) -> Any:
    return getter(row) if callable(getter) else row.get(getter)


def table(
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    title: str | None = None,
    flexible: Collection[str] = ("title", "summary", "filters", "skills", "queues", "webhook"),
    one_line: bool = False,
) -> Table:
    """Rows as a table; only the ``flexible`` columns give way (wrapped, or cut short when ``one_line``),
    so ids and names stay whole to copy."""
    out = Table(
        title=title,
        box=None,
        pad_edge=False,
        header_style="bold",
        title_justify="left",
        title_style="bold",
        expand=one_line,
    )
    for header, _ in columns:
        if header in flexible and one_line:  # takes what the terminal has left, cut short with …
            out.add_column(header, ratio=1, no_wrap=True, overflow="ellipsis", min_width=10)
        elif header in flexible:
            out.add_column(header, overflow="fold", min_width=12)
        else:
            out.add_column(header, no_wrap=True)
    for row in rows:
        out.add_row(*(text(_get(row, getter)) for _, getter in columns))
    return out


def record(fields: Sequence[Column], obj: Mapping[str, Any], *, title: str | None = None) -> Table:
    """One object as label / value lines."""
    out = Table.grid(padding=(0, 2))
    out.add_column(style="bold", no_wrap=True)
    out.add_column(overflow="fold")
    if title:
        out.add_row(Text(title, style="bold"), Text(""))
    for label, getter in fields:
        value = _get(obj, getter)
        if value is not None and value != "":  # an unset field is left out, not shown as '-'
            out.add_row(label, text(value))
    return out


def empty(what: str) -> Text:
    return Text(f"no {what}", style="dim")
