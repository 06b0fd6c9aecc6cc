"""When to retry a webhook delivery, and what a vendor receives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

MAX_RETRY_AFTER_SECONDS = 7 * 86400  # a vendor's Retry-After is read up to a week (the cap still applies)
# 410 Gone tells a Standard Webhooks sender the endpoint is gone: stop trying.
GIVE_UP_STATUSES = frozenset({410})


def is_success(status: int) -> bool:
    return 200 <= status < 300


def should_retry(status: int | None) -> bool:
    """Network errors, timeouts, 408, 429 and 5xx are worth retrying; other answers are final."""
    if status is None:
        return True
    if status in GIVE_UP_STATUSES:
        return False
    return status in (408, 425, 429) or status >= 500


def backoff(
    attempt: int, *, initial: timedelta, cap: timedelta, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff with full jitter: uniform in [0, min(cap, initial * 2**(attempt-1))]."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    ceiling = min(cap.total_seconds(), initial.total_seconds() * 2 ** (attempt - 1))
    return timedelta(seconds=(rng or random).uniform(0, ceiling))


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Parse a Retry-After header (seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit alone takes "²", which int() refuses
        return timedelta(seconds=min(int(value), MAX_RETRY_AFTER_SECONDS))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC with no claim about the zone
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), timedelta(seconds=MAX_RETRY_AFTER_SECONDS))


def next_attempt_delay(
    attempt: int,
    status: int | None,
    retry_after_header: str | None,
    now: datetime,
    *,
    initial: timedelta,
    cap: timedelta,
    rng: random.Random | None = None,
) -> timedelta:
    """The vendor's Retry-After wins (up to the cap); otherwise jittered exponential backoff."""
    asked = retry_after(retry_after_header, now) if status in (429, 503) else None
    if asked is not None:
        return min(asked, cap)
    return backoff(attempt, initial=initial, cap=cap, rng=rng)


def scheduled_delay(
    schedule: list[timedelta], attempt: int, *, jitter: float = 0.1, rng: random.Random | None = None
) -> timedelta:
    """The delay before attempt ``attempt + 1`` from a fixed schedule, stretched by up to ``jitter``."""
    base = schedule[min(attempt, len(schedule) - 1)]
    return base * (1 + (rng or random).uniform(0, jitter))


def case_payload(
    *,
    case_id: str,
    vendor: str,
    incident: dict[str, Any],
    escalation: dict[str, Any],
    callback_url: str,
    timestamp: datetime,
    links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The body POSTed to a vendor: Standard Webhooks' recommended {type, timestamp, data} shape."""
    return {
        "type": "case.opened",
        "timestamp": timestamp.isoformat(),
        "data": {
            "case_id": case_id,
            "vendor": vendor,
            "incident": incident,
            "escalation": escalation,
            "callback_url": callback_url,
            "links": links or {},
        },
    }
