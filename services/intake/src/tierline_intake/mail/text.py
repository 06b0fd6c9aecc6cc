"""One text-cleaning rule for mail: declared charsets, HTML to text, characters PostgreSQL refuses."""

from __future__ import annotations

import re

from inscriptis import get_text  # no py.typed marker

# intake's API limits (entrypoints.schemas: IncidentCreate.title / .description); a test keeps them in step.
TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
ELLIPSIS = "…"
HTML_MAX = 25 * DESCRIPTION_MAX

# Labels mail clients put on windows-1252 text; browsers (WHATWG) decode them the same way.
_CP1252_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "windows-1252", "cp1252"})
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", ""})
_SURROGATES = re.compile("[\ud800-\udfff]")
_NEWLINES = re.compile(r"\r\n?")
# C0/C1 controls (Unicode category Cc): PostgreSQL refuses NUL, the rest is noise in a title or a body
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_TAB_NL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates: in a title they reorder what people read ("[TL-…]" spoofing).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode by the declared charset; undeclared, ASCII-labelled or unknown: UTF-8, else windows-1252."""
    label = (charset or "").strip().strip('"').lower()
    if label in _ASCII_LABELS:
        return _utf8_or_cp1252(data)
    if label in _CP1252_LABELS:
        return data.decode("cp1252", errors="replace")
    try:
        return data.decode(label, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        # an unknown label, or a codec that is no text encoding or refuses errors="replace" (idna, rot13)
        return _utf8_or_cp1252(data)


def _utf8_or_cp1252(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def html_to_text(html: str) -> str:
    """HTML-only mail to readable text; inscriptis drops <script>, <style> and <head>."""
    # markup rarely outweighs the text 25:1; the cut keeps a 10 MiB HTML mail from costing seconds of CPU
    html = _SURROGATES.sub("\ufffd", html[:HTML_MAX]).replace("\x00", "")
    try:
        return get_text(html)
    except Exception:  # noqa: BLE001 - lxml refuses some inputs (an encoding declaration, deep nesting): better no text
        return ""


def clean_text(text: str, limit: int = DESCRIPTION_MAX) -> str:
    """A body fit for the description: newlines \\n, no control characters, trimmed, at most `limit`."""
    text = text[: limit * 4]  # a 10 MiB body is cut anyway; spare the cleaning below
    text = _NEWLINES.sub("\n", _SURROGATES.sub("\ufffd", text))
    lines = [line.rstrip() for line in _CONTROLS_BUT_TAB_NL.sub("", text).split("\n")]
    return cut("\n".join(lines).strip("\n"), limit)


def clean_line(text: str, limit: int) -> str:
    """A one-line value (subject, display name): whitespace collapsed, no control characters."""
    text = _CONTROLS.sub(" ", _SURROGATES.sub("\ufffd", text[: limit * 4]))
    text = _BIDI_CONTROLS.sub("", text)
    return cut(" ".join(text.split()), limit)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters; a cut text ends with "…"."""
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS
