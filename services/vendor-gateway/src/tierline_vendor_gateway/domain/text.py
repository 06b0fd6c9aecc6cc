"""Vendors' free text goes into our tables, events and people's screens: keep what reads, drop the rest."""

from __future__ import annotations

import unicodedata


def clean_text(value: str | None, *, multiline: bool = False, limit: int = 5000) -> str | None:
    """Drop control and format characters (ESC, NUL, bidi overrides...); keep newlines and tabs if asked.

    None when nothing readable is left.
    """
    if value is None:
        return None
    kept = "\n\t" if multiline else ""
    cleaned = "".join(
        ch for ch in value if ch in kept or not unicodedata.category(ch).startswith("C")
    ).strip()[:limit]
    return cleaned or None
