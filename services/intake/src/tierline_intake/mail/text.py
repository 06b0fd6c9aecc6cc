"""One text-cleaning rule for mail: declared charsets, HTML to text, characters PostgreSQL refuses."""

from __future__ import annotations

import codecs
import re

from inscriptis import get_text  # no py.typed marker

# intake's API limits (entrypoints.schemas: IncidentCreate.title / .description); a test keeps them in step.
TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
ELLIPSIS = "…"
HTML_MAX = 25 * DESCRIPTION_MAX
# Bytes of a body worth decoding: a UTF-32 text still yields twice the description, HTML its markup cut.
TEXT_BYTES_MAX = DESCRIPTION_MAX * 8
HTML_BYTES_MAX = HTML_MAX * 2

# Labels mail clients put on windows-1252 text; browsers (WHATWG) decode them the same way.
_CP1252_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "windows-1252", "cp1252"})
_ASCII_LABELS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", ""})
# Codecs that call themselves text encodings but are no mail charset: escape notations, IDN forms
# (punycode decodes in quadratic pure Python: 400 KB took 3 s), and one that always fails.
_NOT_CHARSETS = frozenset({"punycode", "idna", "raw-unicode-escape", "unicode-escape", "undefined"})
_SURROGATES = re.compile("[\ud800-\udfff]")
_NEWLINES = re.compile(r"\r\n?")
# C0/C1 controls (Unicode category Cc): PostgreSQL refuses NUL, the rest is noise in a title or a body
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_TAB_NL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates: in a title they reorder what people read ("[TL-…]" spoofing).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def decode_bytes(data: bytes, charset: str | None, limit: int | None = None) -> str:
    """Decode by the declared charset; undeclared, ASCII or no real charset: UTF-8, else windows-1252.

    `limit` cuts the bytes first, so a 10 MiB body costs no more than the part of it that is kept.
    """
    if limit is not None:
        data = data[:limit]
    label = (charset or "").strip().strip('"').lower()
    if label in _ASCII_LABELS:
        return _utf8_or_cp1252(data)
    if label in _CP1252_LABELS:
        return data.decode("cp1252", errors="replace")
    codec = text_codec(label)
    if codec is None:
        return _utf8_or_cp1252(data)
    try:
        return data.decode(codec, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):  # a codec that refuses errors="replace"
        return _utf8_or_cp1252(data)


def text_codec(label: str) -> str | None:
    """The codec a charset label names when it is a real text encoding (not rot13, base64, punycode …)."""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):  # unknown, or a label with NUL or other junk
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return info.name


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
