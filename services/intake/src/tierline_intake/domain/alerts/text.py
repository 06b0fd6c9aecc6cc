"""Alert text made to fit intake's rules: slugs, one-line titles, bounded descriptions, JSON-ready details."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from tierline_intake.domain.alerts.signal import (
    DEFAULT_TITLE,
    DESCRIPTION_MAX,
    ELLIPSIS,
    NAME_MAX,
    NAME_PATTERN,
    REPORTER_MAX,
    SLUG_PATTERN,
    TITLE_MAX,
    TRUNCATION_NOTE,
)
from tierline_shared.text import storable


def slug(text: str | None) -> str | None:
    """A lowercase name matching ``^[a-z0-9][a-z0-9._-]*$`` of at most 120 characters, or None.

    Accents are folded to ASCII, every other run of unusable characters becomes one ``-``:
    ``"High CPU"`` gives ``"high-cpu"``, ``"prod-datapipe"`` stays, ``"???"`` gives None.
    """
    if not text:
        return None
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    dashed = re.sub(r"[^a-z0-9._-]+", "-", folded)
    dashed = re.sub(r"-{2,}", "-", dashed)
    trimmed = dashed.lstrip("._-")[:NAME_MAX].rstrip("._-")
    return trimmed if trimmed and SLUG_PATTERN.match(trimmed) else None


def valid_name(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= NAME_MAX and NAME_PATTERN.match(value):
        return value
    return None


def one_line(text: Any) -> str:
    return " ".join(storable(text).split())


def clip(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(marker)] + marker


def title_from(*candidates: Any) -> str:
    """The first candidate with visible text, on one line, clipped to 200 characters."""
    for candidate in candidates:
        line = one_line(candidate)
        if line:
            return clip(line, TITLE_MAX)
    return DEFAULT_TITLE


def description_from(parts: Iterable[str]) -> str:
    text = "\n\n".join(part for part in (storable(p).strip() for p in parts) if part)
    return clip(text, DESCRIPTION_MAX, TRUNCATION_NOTE)


def reporter_from(*candidates: Any) -> str:
    for candidate in candidates:
        line = one_line(candidate)
        if line:
            return clip(line, REPORTER_MAX)
    return "monitoring"


def iso(value: datetime | date) -> str:
    """ISO 8601 as pydantic's JSON mode writes it (UTC as ``Z``), whichever dump we were given."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(jsonable(value), ensure_ascii=False, sort_keys=True)


def block(heading: str, lines: Iterable[str]) -> str:
    body = [f"  {line}" for line in lines]
    return "\n".join([heading, *body]) if body else ""
