"""Vendors' free text goes into our tables, events and people's screens: keep what reads, drop the rest.

The rule is the shared one (``tierline_shared.text``); ``clean_text`` is its ``readable`` variant.
"""

from __future__ import annotations

from tierline_shared.text import readable as clean_text

__all__ = ["clean_text"]
