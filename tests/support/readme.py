"""The README's shell examples as data: its ```console blocks, their commands, and the answers they show.

The conventions are described in tests/e2e/test_readme_examples.py, which runs them.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ELLIPSIS = "…"
MARKER = re.compile(r"^<!--\s*readme-test:\s*(skip|retry):\s*(\S.*?)\s*-->$")
FENCE = "```console"


@dataclass
class Command:
    text: str  # what to run, continuation lines included, without the "$ " prompt
    shown: str  # the answer printed below it in the README ("" when none is shown)
    line: int  # README line of the "$ " prompt


@dataclass
class Block:
    line: int  # README line of the fence
    mode: str  # "run", "skip" or "retry"
    reason: str
    commands: list[Command] = field(default_factory=list)


def is_complete(command: str) -> bool:
    """Whether bash would run ``command`` as it stands: no trailing backslash, no open quote."""
    if command.rstrip().endswith("\\"):
        return False
    return subprocess.run(["bash", "-n"], input=command, capture_output=True, text=True).returncode == 0


def console_blocks(readme: Path) -> list[Block]:
    lines = readme.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != FENCE:
            i += 1
            continue
        marker = MARKER.match(lines[i - 1].strip()) if i else None
        block = Block(
            line=i + 1, mode=marker.group(1) if marker else "run", reason=marker.group(2) if marker else ""
        )
        i += 1
        body: list[tuple[int, str]] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append((i + 1, lines[i]))
            i += 1
        block.commands = parse_commands(body)
        blocks.append(block)
        i += 1
    return blocks


def parse_commands(body: list[tuple[int, str]]) -> list[Command]:
    commands: list[Command] = []
    j = 0
    while j < len(body):
        number, text = body[j]
        if not text.startswith("$ "):
            raise ValueError(f"README line {number}: expected a '$ ' command, found {text!r}")
        command = [text[2:]]
        j += 1
        while j < len(body) and not body[j][1].startswith("$ ") and not is_complete("\n".join(command)):
            command.append(body[j][1])
            j += 1
        shown = []
        while j < len(body) and not body[j][1].startswith("$ "):
            shown.append(body[j][1])
            j += 1
        commands.append(Command(text="\n".join(command), shown="\n".join(shown).strip(), line=number))
    return commands


# --- shown answers as patterns ---------------------------------------------------------------------


class Anything:
    """A value shown as "…" or a bare …: any value is fine."""

    def __repr__(self) -> str:
        return ELLIPSIS


@dataclass
class Text:
    """A string shown with … inside: the rest must be there, … stands for any text."""

    shown: str

    def matches(self, value: Any) -> bool:
        regex = ".*".join(re.escape(part) for part in self.shown.split(ELLIPSIS))
        return isinstance(value, str) and re.fullmatch(regex, value, re.DOTALL) is not None


@dataclass
class Obj:
    keys: dict[str, Any]
    more: bool  # the README shows … among the keys: others may follow


@dataclass
class Arr:
    items: list[Any]
    more: bool  # the README shows … among the items: others may come between and after


_MORE = "\x00more"
_ANY = "\x00any"


def json_pattern(shown: str) -> Any:
    """The shown JSON as a pattern; a bare … becomes "more keys", "more items" or "any value" by position."""
    out: list[str] = []
    stack: list[str] = []
    in_string = escaped = False
    last = ""
    for ch in shown:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string, last = False, '"'
            continue
        if ch == ELLIPSIS:
            if last == ":":
                out.append(json.dumps(_ANY))
            elif stack and stack[-1] == "{":
                out.append(f"{json.dumps(_MORE)}: true")
            else:
                out.append(json.dumps(_MORE))
            last = '"'
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]":
            stack.pop()
        out.append(ch)
        if not ch.isspace():
            last = ch
    return _pattern(json.loads("".join(out)))


def _pattern(value: Any) -> Any:
    if isinstance(value, dict):
        return Obj({k: _pattern(v) for k, v in value.items() if k != _MORE}, more=_MORE in value)
    if isinstance(value, list):
        return Arr([_pattern(v) for v in value if v != _MORE], more=_MORE in value)
    if value in (_ANY, ELLIPSIS):
        return Anything()
    if isinstance(value, str) and ELLIPSIS in value:
        return Text(value)
    return value


def mismatches(pattern: Any, actual: Any, path: str = "$") -> list[str]:
    """What in ``actual`` differs from the shown ``pattern``; empty when it matches."""
    if isinstance(pattern, Anything):
        return []
    if isinstance(pattern, Text):
        return [] if pattern.matches(actual) else [f"{path}: {actual!r} is not like {pattern.shown!r}"]
    if isinstance(pattern, Obj):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        found = [f"{path}: no key {k!r}" for k in pattern.keys if k not in actual]
        for key, sub in pattern.keys.items():
            if key in actual:
                found += mismatches(sub, actual[key], f"{path}.{key}")
        extra = sorted(set(actual) - set(pattern.keys))
        if extra and not pattern.more:
            found.append(f"{path}: keys {extra} are not shown (show … if the README leaves some out)")
        return found
    if isinstance(pattern, Arr):
        return _list_mismatches(pattern, actual, path)
    if type(pattern) is not type(actual) and not (_is_number(pattern) and _is_number(actual)):
        return [f"{path}: expected {pattern!r}, got {actual!r}"]
    return [] if pattern == actual else [f"{path}: expected {pattern!r}, got {actual!r}"]


def _list_mismatches(pattern: Arr, actual: Any, path: str) -> list[str]:
    if not isinstance(actual, list):
        return [f"{path}: expected a list, got {actual!r}"]
    if not pattern.more:
        if len(actual) != len(pattern.items):
            return [f"{path}: expected {len(pattern.items)} items, got {len(actual)}"]
        found: list[str] = []
        for n, (sub, item) in enumerate(zip(pattern.items, actual, strict=True)):
            found += mismatches(sub, item, f"{path}[{n}]")
        return found
    rest = iter(enumerate(actual))  # the shown items, in order, among the actual ones
    for n, sub in enumerate(pattern.items):
        if not any(not mismatches(sub, item, f"{path}[{m}]") for m, item in rest):
            return [f"{path}: nothing matches shown item {n} ({sub!r}) in order"]
    return []


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text_mismatches(shown: str, actual: str) -> list[str]:
    """Plain-text answers, line by line; … stands for any text."""
    want, got = shown.splitlines(), actual.strip().splitlines()
    if len(want) != len(got):
        return [f"expected {len(want)} lines, got {len(got)}"]
    return [
        f"line {n + 1}: {g!r} is not like {w!r}"
        for n, (w, g) in enumerate(zip(want, got, strict=True))
        if not Text(w).matches(g)
    ]
