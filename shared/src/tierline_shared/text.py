"""One rule for text from outside (APIs, alerts, vendors): what cannot be stored, what does not read.

The rule, character by character (Unicode general category):

* **unstorable** — NUL and lone UTF-16 surrogates (``Cs``): PostgreSQL text and JSON cannot
  hold them. Every cleaned text is free of them; HTTP input holding them is refused.
* **control** — the other ``Cc`` characters (ESC, BEL, CR...): they steer terminals, not text.
* **invisible** — the rest of category ``C``: format (``Cf``: bidi overrides, zero-width
  space), private use (``Co``) and unassigned (``Cn``) code points.
* **kept** — newlines and tabs where the text may span lines (``keep``).

:func:`scrub` applies the rule; callers differ only in what a removed character becomes, and
each has a named variant:

* :func:`unstorable` — the HTTP edge's test (``StorableModel`` refuses such input with a 422).
* :func:`storable` — monitoring alerts (intake): surrogates become U+FFFD, controls a space,
  newlines/tabs and invisible characters stay; None becomes "".
* :func:`readable` — vendors' free text (vendor gateway): every control, surrogate and
  invisible character is dropped, newlines/tabs only in multiline text; stripped, bounded,
  None when nothing readable is left.
"""

from __future__ import annotations

import functools
import re
import unicodedata

REPLACEMENT = "\ufffd"
LINE_BREAKS = "\n\t"


def _is_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


def unstorable(text: str) -> bool:
    """NUL or a lone UTF-16 surrogate in ``text``: PostgreSQL text and JSON cannot hold them."""
    return "\x00" in text or any(_is_surrogate(char) for char in text)


def scrub(
    text: str,
    *,
    keep: str = LINE_BREAKS,
    surrogate: str = REPLACEMENT,
    control: str = " ",
    invisible: str | None = None,
) -> str:
    """``text`` with every unstorable and control character replaced.

    Characters in ``keep`` stay as they are. A lone surrogate becomes ``surrogate``, any other
    control character (NUL included) ``control``; format, private-use and unassigned characters
    become ``invisible``, or stay when it is None. The result is never :func:`unstorable` as
    long as the replacements are not.
    """
    if invisible is None and not _steering(keep).search(text):
        return text  # the usual case, found at C speed: nothing to replace
    chars: list[str] = []
    for char in text:
        if char in keep:
            chars.append(char)
            continue
        category = unicodedata.category(char)
        if category == "Cs":
            chars.append(surrogate)
        elif category == "Cc":
            chars.append(control)
        elif category[0] == "C" and invisible is not None:
            chars.append(invisible)
        else:
            chars.append(char)
    return "".join(chars)


@functools.lru_cache(maxsize=16)
def _steering(keep: str) -> re.Pattern[str]:
    """Any control (``Cc``: U+0000-U+001F, U+007F-U+009F) or surrogate (``Cs``) not in ``keep``."""
    chars = "[\x00-\x1f\x7f-\x9f\ud800-\udfff]"
    return re.compile(f"(?![{re.escape(keep)}]){chars}" if keep else chars)


def storable(text: object) -> str:
    """Text safe to store, every visible character where it was (monitoring alerts).

    Lone surrogates become U+FFFD, control characters other than newlines and tabs a space;
    None is "" and anything else is its ``str``.
    """
    if text is None:
        return ""
    return scrub(str(text))


def readable(text: str | None, *, multiline: bool = False, limit: int = 5000) -> str | None:
    """Only what reads (vendors' free text): control, format and other invisible characters dropped.

    Newlines and tabs stay if ``multiline``; the result is stripped, cut to ``limit``
    characters, and None when nothing readable is left.
    """
    if text is None:
        return None
    cleaned = scrub(
        text, keep=LINE_BREAKS if multiline else "", surrogate="", control="", invisible=""
    ).strip()[:limit]
    return cleaned or None
