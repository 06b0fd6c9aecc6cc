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


def honour_retry_after(step: timedelta, asked: timedelta | None, cap: timedelta) -> timedelta:
    """The wait before the next attempt: our own step, lengthened to the vendor's Retry-After (up to ``cap``).

    Retry-After is the receiver asking us to wait *at least* that long (RFC 9110 10.2.3), so it
    may lengthen our step but never shorten it: a vendor answering "Retry-After: 1" would
    otherwise spend the whole schedule in seconds and dead-letter a case the schedule meant to
    keep trying for hours. Past ``cap`` we ask again rather than leave an L4 case waiting (its
    SLA runs meanwhile); a step longer than the cap is still our own step.
    """
    if asked is None:
        return step
    return max(step, min(asked, cap))


def asked_to_wait(status: int | None, retry_after_header: str | None, now: datetime) -> timedelta | None:
    """A throttling answer's Retry-After (429 or 503 only: on other answers it is no such signal)."""
    return retry_after(retry_after_header, now) if status in (429, 503) else None


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
    """Jittered exponential backoff, lengthened to the vendor's Retry-After (see honour_retry_after)."""
    step = backoff(attempt, initial=initial, cap=cap, rng=rng)
    return honour_retry_after(step, asked_to_wait(status, retry_after_header, now), cap)


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
