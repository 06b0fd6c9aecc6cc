"""Notification templates: Jinja2 files per event kind and channel, compiled and checked at start.

Files live in one folder (``deploy/config/templates/``). For every kind in ``KINDS`` there are
``<kind>.subject.j2`` (one line; the email subject and the chat title), ``<kind>.text.j2`` (email
plain text), ``<kind>.html.j2`` (email HTML) and ``<kind>.chat.j2`` (chat, short Markdown). Files
whose name starts with ``_`` are shared pieces (layouts, includes). HTML files are autoescaped,
the others are not. The environment is sandboxed and undefined names raise, so a typo in a
template is an error, never a blank. ``Templates.load`` compiles every file, refuses unknown
filters, tests and referenced files, and renders each kind once with a sample context: a broken
folder stops the service at start with ``TemplateProblem("<folder>/<file>:<line>: <reason>")``.

The context every template gets (the caller builds it):

- ``incident``: ``id``, ``reference`` ("TL-1A2B3C4D"), ``title``, ``priority`` ("P1".."P4"),
  ``service``, ``category``, ``tier`` (str or None), ``queue`` (or None), ``assignee`` (or None),
  ``reporter``, ``url`` (where to follow it, or None).
- ``recipient``: ``name``, ``role`` ("assignee" | "previous_assignee" | "lead" | "team" | "reporter").
- ``event``: the triggering event's fields for the kind (free-form; templates read optional keys
  with ``event.get("x")``). Per kind: sla_warning ``clock``, ``threshold`` (0.75),
  ``remaining_seconds``, ``due_at`` (ISO), ``last`` (bool); sla_breached ``clock``, ``due_at``;
  escalated / escalated_fyi ``from_tier``, ``to_tier``, ``reason``, ``note`` (or None),
  ``direction`` ("up" | "down"); renotified ``attempt``, ``of``; vendor_trouble ``vendor``,
  ``what`` ("delivery_failed" | "case_rejected"), ``detail``; reporter_resolved
  ``resolution_code``, ``note`` (either may be None); the other kinds may be empty.
- ``links``: ``acknowledge`` (URL or None), ``csat`` (None, or score 1..5 as int → URL),
  ``follow`` (URL or None).

Filters besides Jinja's own: ``duration`` (seconds → "1 h 05 min" / "45 min" / "30 s"),
``percent`` (0.75 → "75 %"), ``when`` (ISO time or datetime → "2026-12-05 14:30 UTC").
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

KINDS = (
    "assigned",
    "team_waiting",
    "renotified",
    "escalated",
    "escalated_fyi",
    "sla_warning",
    "sla_breached",
    "p1_created",
    "vendor_trouble",
    "reporter_created",
    "reporter_resolved",
)
Channel = Literal["email", "chat"]
CHANNELS: tuple[Channel, ...] = ("email", "chat")
PARTS = ("subject", "text", "html", "chat")
_SUFFIX = ".j2"
_FILE_NAME = re.compile(r"^(?P<kind>[a-z0-9_]+)\.(?P<part>[a-z]+)\.j2$")
# What a filter or a template expression may raise on bad data, besides Jinja's own errors.
_RENDER_FAILURES = (TemplateError, TypeError, ValueError, LookupError, ArithmeticError)


@dataclass(frozen=True)
class Rendered:
    """One message ready to send: ``text`` is the chat body on the chat channel."""

    subject: str  # one line, stripped, whitespace collapsed; for chat it is the title
    text: str
    html: str | None  # email only


class TemplateProblem(Exception):
    """The template folder cannot be used: each line names the file, the line and the reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class RenderError(Exception):
    """A template failed on a context (an undefined name, a bad value): names the template and why.

    ``template`` and ``line`` point where it failed; ``trail`` is the chain of (template, line)
    from the kind's own file through its includes, layout and macros down to that point.
    """

    def __init__(
        self, template: str, line: int | None, reason: str, trail: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self.template = template
        self.line = line
        self.reason = reason
        self.trail = trail
        super().__init__(f"{self.where}: {reason}{self.via}")

    @property
    def where(self) -> str:
        return f"{self.template}:{self.line}" if self.line is not None else self.template

    @property
    def via(self) -> str:
        outer = [f"{name}:{line}" for name, line in self.trail[:-1]]
        return f" (via {' > '.join(outer)})" if outer else ""


# -- filters ------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """Seconds as people say them: "1 h 05 min", "45 min", "30 s" (negative ones with a minus)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"duration needs a number of seconds, got {type(seconds).__name__}")
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    if total < 60:
        return f"{sign}{total} s"
    if total < 3600:
        return f"{sign}{total // 60} min"
    hours, rest = divmod(total, 3600)
    return f"{sign}{hours} h {rest // 60:02d} min"


def percent(fraction: float) -> str:
    """A fraction as a percentage: 0.75 → "75 %", 0.875 → "87.5 %"."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise TypeError(f"percent needs a number, got {type(fraction).__name__}")
    value = round(fraction * 100, 1)
    return f"{value:.0f} %" if value == int(value) else f"{value:.1f} %"


def when(moment: str | datetime) -> str:
    """An ISO time (or datetime) to the minute, with its zone: "2026-12-05 14:30 UTC"."""
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if not isinstance(at, datetime):
        raise TypeError(f"when needs an ISO time, got {type(moment).__name__}")
    offset = at.utcoffset()
    if offset is None:
        zone = ""
    elif offset == timedelta(0):
        zone = " UTC"
    else:
        zone = " " + at.strftime("%z")
    return at.strftime("%Y-%m-%d %H:%M") + zone


FILTERS: dict[str, Callable[..., str]] = {"duration": duration, "percent": percent, "when": when}


# -- loading and rendering ----------------------------------------------------------------------


def template_name(kind: str, part: str) -> str:
    return f"{kind}.{part}{_SUFFIX}"


def _is_html(name: str | None) -> bool:
    return name is not None and name.endswith(".html.j2")


def _environment(loader: FileSystemLoader) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=_is_html,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # compiled once at start; edits need a restart, which checks them again
        cache_size=-1,
    )
    env.filters.update(FILTERS)
    return env


class Templates:
    """The compiled templates of one folder; ``render`` fills them for one message."""

    def __init__(self, directory: Path, compiled: Mapping[str, Template]) -> None:
        self.directory = directory
        self._compiled = dict(compiled)

    @classmethod
    def load(cls, directory: Path, *, dry_run: bool = True) -> Templates:
        """Compile and check every template in ``directory``; raise ``TemplateProblem`` if any is wrong.

        ``dry_run`` also renders every kind on both channels with ``sample_contexts``, so a
        misspelt variable stops the start rather than every message of that kind.
        """
        if not directory.is_dir():
            raise TemplateProblem([f"{directory}: not a folder of templates"])
        loader = FileSystemLoader(directory)
        env = _environment(loader)
        names = set(env.list_templates(filter_func=lambda name: name.endswith(_SUFFIX)))
        problems = [f"{directory / name}: {reason}" for name, reason in _naming_problems(names)]
        compiled: dict[str, Template] = {}
        for name in sorted(names):
            try:
                source, _, _ = loader.get_source(env, name)
                found = _static_problems(env, env.parse(source, name), names)
                problems += [f"{directory / name}:{line}: {why}" for line, why in found]
                if not found:  # compiling would report the same unknown filter again
                    compiled[name] = env.get_template(name)
            except TemplateSyntaxError as exc:
                problems.append(f"{directory / name}:{exc.lineno}: {exc.message}")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{directory / name}: cannot read: {exc}")
        if problems:
            raise TemplateProblem(problems)
        templates = cls(directory, compiled)
        if dry_run:
            templates._dry_run()
        return templates

    def render(self, kind: str, channel: Channel, context: Mapping[str, Any]) -> Rendered:
        """Fill the kind's templates for one channel; ``RenderError`` names the template and why."""
        if kind not in KINDS:
            raise ValueError(f"unknown notification kind {kind!r}")
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        subject_name = template_name(kind, "subject")
        subject = " ".join(self._fill(subject_name, context).split())
        if not subject:
            raise RenderError(subject_name, None, "the subject is empty")
        if channel == "chat":
            return Rendered(subject=subject, text=self._fill(template_name(kind, "chat"), context), html=None)
        return Rendered(
            subject=subject,
            text=self._fill(template_name(kind, "text"), context),
            html=self._fill(template_name(kind, "html"), context),
        )

    def _fill(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._compiled[name].render(dict(context)).strip()
        except _RENDER_FAILURES as exc:
            trail = _template_trail(exc)
            file, line = trail[-1] if trail else (name, getattr(exc, "lineno", None))
            raise RenderError(file, line, str(exc) or type(exc).__name__, trail) from exc

    def _dry_run(self) -> None:
        problems: dict[tuple[str, str], str] = {}  # one line per place and reason, however many kinds hit it
        for kind in KINDS:
            for context in sample_contexts(kind):
                for channel in CHANNELS:
                    try:
                        self.render(kind, channel, context)
                    except RenderError as exc:
                        role = context["recipient"]["role"]
                        problems.setdefault(
                            (exc.where, exc.reason),
                            f"{self.directory / exc.where}: {exc.reason}{exc.via}"
                            f" (sample {kind} {channel} message, recipient role {role})",
                        )
        if problems:
            raise TemplateProblem(list(problems.values()))


# -- sample contexts: the contract above, filled in, for the dry run at start ---------------------

_SAMPLE_EVENTS: dict[str, dict[str, Any]] = {
    "sla_warning": {
        "clock": "resolution",
        "threshold": 0.75,
        "remaining_seconds": 3900,
        "due_at": "2026-12-05T14:30:00+00:00",
        "last": False,
    },
    "sla_breached": {"clock": "response", "due_at": "2026-12-05T14:30:00+00:00"},
    "escalated": {
        "from_tier": "L1",
        "to_tier": "L2",
        "reason": "no_ack",
        "note": "VPN gateway",
        "direction": "up",
    },
    "renotified": {"attempt": 2, "of": 3},
    "vendor_trouble": {"vendor": "acme", "what": "delivery_failed", "detail": "HTTP 503 after 5 attempts"},
    "reporter_resolved": {"resolution_code": "fixed", "note": "Restarted the VPN gateway."},
}
_SAMPLE_EVENTS["escalated_fyi"] = _SAMPLE_EVENTS["escalated"]
_SAMPLE_ROLES: dict[str, tuple[str, str]] = {
    "assigned": ("assignee", "assignee"),
    "team_waiting": ("team", "team"),
    "renotified": ("assignee", "assignee"),
    "escalated": ("assignee", "team"),
    "escalated_fyi": ("previous_assignee", "previous_assignee"),
    "sla_warning": ("assignee", "lead"),
    "sla_breached": ("assignee", "lead"),
    "p1_created": ("team", "team"),
    "vendor_trouble": ("team", "team"),
    "reporter_created": ("reporter", "reporter"),
    "reporter_resolved": ("reporter", "reporter"),
}

_SAMPLE_NAMES = {
    "assignee": "alice",
    "previous_assignee": "dave",
    "lead": "carol",
    "team": "network-l2",
    "reporter": "bob@example.com",
}


def sample_contexts(kind: str) -> list[dict[str, Any]]:
    """Two contexts per kind: every optional value present, then every optional value empty."""
    full_role, sparse_role = _SAMPLE_ROLES[kind]
    incident = {
        "id": "1a2b3c4d-0000-4000-8000-000000000000",
        "reference": "TL-1A2B3C4D",
        "title": "VPN down for the Lyon office",
        "priority": "P1",
        "service": "vpn",
        "category": "network",
        "tier": "L2",
        "queue": "network-l2",
        "assignee": "alice",
        "reporter": "bob@example.com",
        "url": "https://tierline.example/incidents/TL-1A2B3C4D",
    }
    full = {
        "incident": incident,
        "recipient": {"name": _SAMPLE_NAMES[full_role], "role": full_role},
        "event": dict(_SAMPLE_EVENTS.get(kind, {})),
        "links": {
            "acknowledge": "https://tierline.example/links/ack?t=x",
            "csat": {score: f"https://tierline.example/links/csat?t=x{score}" for score in range(1, 6)},
            "follow": "https://tierline.example/follow/TL-1A2B3C4D",
        },
    }
    sparse_event = {key: None for key in ("note", "resolution_code")} | {
        "last": True,
        "direction": "down",
        "what": "case_rejected",
    }
    sparse = {
        "incident": incident
        | {key: None for key in ("tier", "queue", "assignee", "url")}
        | {"priority": "P4"},
        "recipient": {"name": _SAMPLE_NAMES[sparse_role], "role": sparse_role},
        "event": dict(_SAMPLE_EVENTS.get(kind, {}))
        | {k: v for k, v in sparse_event.items() if k in full["event"]},
        "links": {"acknowledge": None, "csat": None, "follow": None},
    }
    return [full, sparse]


def _naming_problems(names: set[str]) -> list[tuple[str, str]]:
    """Missing required files and files that match no kind (a typo would otherwise go unnoticed)."""
    found: list[tuple[str, str]] = []
    for kind in KINDS:
        found += [
            (template_name(kind, part), "missing") for part in PARTS if template_name(kind, part) not in names
        ]
    for name in sorted(names):
        if name.startswith("_"):
            continue
        match = _FILE_NAME.match(name)
        if match is None or match["kind"] not in KINDS or match["part"] not in PARTS:
            found.append(
                (name, f"unexpected template: name it <kind>.<{'|'.join(PARTS)}>.j2 with a known kind")
            )
    return found


def _static_problems(
    env: SandboxedEnvironment, tree: nodes.Template, names: set[str]
) -> list[tuple[int, str]]:
    """What Jinja only notices at render time: unknown filters or tests, missing referenced files."""
    found: list[tuple[int, str]] = []
    for used in tree.find_all(nodes.Filter):
        if used.name not in env.filters:
            found.append((used.lineno, f"unknown filter '{used.name}'"))
    for check in tree.find_all(nodes.Test):
        if check.name not in env.tests:
            found.append((check.lineno, f"unknown test '{check.name}'"))
    for ref in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        target = getattr(ref, "template", None)  # every one of these node types has it
        if isinstance(target, nodes.Const) and isinstance(target.value, str) and target.value not in names:
            found.append((ref.lineno, f"refers to missing template '{target.value}'"))
    return found


def _template_trail(exc: BaseException) -> tuple[tuple[str, int], ...]:
    """The template files and lines a render failure went through (Jinja maps its frames to them)."""
    trail: list[tuple[str, int]] = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(_SUFFIX) and frame.lineno is not None:
            step = (Path(frame.filename).name, frame.lineno)
            if not trail or trail[-1] != step:
                trail.append(step)
    return tuple(trail)
