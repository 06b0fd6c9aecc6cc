"""Mail written by machines (auto-replies, bounces, lists) must never open or answer an incident.

The rules follow RFC 3834 and what helpdesks (Request Tracker, Zammad) learned from mail loops.
"""

from __future__ import annotations

import re
from collections.abc import Callable

BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_SUPPRESS = re.compile(r"\b(all|oof|autoreply)\b", re.IGNORECASE)
_FALSE = frozenset({"", "no", "false", "0", "off"})

Header = Callable[[str], str | None]
"""Reads a header's decoded value by name (None when absent)."""


NULL_SENDER = "null sender (bounce or auto-reply)"


def auto_reason(
    header: Header,
    from_local: str,
    content_type: str,
    report_type: str | None,
    envelope_sender: str | None = None,
) -> str | None:
    """Why this mail is automatic, or None for mail a person wrote.

    `envelope_sender` is SMTP's MAIL FROM when known: "" (`<>`) is the null sender that RFC 5321 §4.5.5
    and RFC 3834 §3.3 require of bounces and auto-replies. None (IMAP) leaves it to `Return-Path: <>`.
    """
    submitted = _token(header("Auto-Submitted"))
    if submitted is not None and submitted != "no":
        return f"auto-submitted: {submitted or '(empty)'}"
    precedence = _token(header("Precedence"))
    if precedence in BULK_PRECEDENCE:
        if precedence == "list" and (header("List-Id") or header("List-Unsubscribe")):
            return "mailing list"
        return f"precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if _token(header(name)) not in (None, *_FALSE):
            return f"auto-reply: {name}"
    suppress = header("X-Auto-Response-Suppress")
    if suppress is not None and _SUPPRESS.search(suppress):
        return "auto-reply: X-Auto-Response-Suppress"
    if from_local.lower() in BOUNCE_SENDERS:
        return f"bounce: sent by {from_local.lower()}"
    if content_type == "multipart/report":
        return f"report: {report_type or 'unknown'}"
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return NULL_SENDER
    return_path = header("Return-Path")
    if return_path is not None and return_path.replace(" ", "") == "<>":
        return "bounce: null sender"
    return None


def _token(value: str | None) -> str | None:
    """The keyword of a header such as `Auto-Submitted: auto-replied; owner-email=…`, lower-cased."""
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()
