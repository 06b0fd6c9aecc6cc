"""A webhook delivery: one signed message of a case to its vendor, its attempts and what they decide."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from tierline_shared.errors import Conflict
from tierline_shared.events import Event, VendorDeliveryFailed, VendorEndpointDisabled
from tierline_vendor_gateway.domain.case import Case
from tierline_vendor_gateway.domain.delivery import (
    GIVE_UP_STATUSES,
    asked_to_wait,
    honour_retry_after,
    is_success,
    next_attempt_delay,
    scheduled_delay,
    should_retry,
)
from tierline_vendor_gateway.domain.text import clean_text

Outcome = Literal["delivered", "retrying", "dead"]


class RetryPolicy(Protocol):
    """How often and how long a vendor's deliveries are tried (vendors.yaml's delivery section)."""

    @property
    def attempts(self) -> int: ...
    @property
    def initial_backoff(self) -> timedelta: ...
    @property
    def max_backoff(self) -> timedelta: ...
    @property
    def schedule(self) -> Sequence[timedelta] | None: ...


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt at a vendor's endpoint came back with."""

    status: int | None
    latency_seconds: float
    response_excerpt: str
    error: str | None
    retry_after: str | None
    final: bool = False  # no retry can change the outcome (refused by the SSRF guard, endpoint disabled)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a worker holds the lease of, for one attempt."""

    id: str
    vendor: str
    url: str
    body: bytes
    attempt: int


@dataclass(frozen=True)
class AttemptRecord:
    """One line of the delivery log."""

    delivery_id: str
    vendor: str
    attempt: int
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str
    attempted_at: datetime


@dataclass(frozen=True)
class Verdict:
    """What one recorded attempt decided: the outcome counted, the events, whether the endpoint is gone."""

    outcome: Outcome
    events: list[Event] = field(default_factory=list)
    endpoint_gone: bool = False


def vendor_reference(excerpt: str) -> str | None:
    """The vendor's own ticket id, when its answer names one."""
    try:
        answer = json.loads(excerpt)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    ref = answer.get("reference") or answer.get("vendor_reference")
    if ref is None:
        return None
    return clean_text(str(ref), limit=200)


@dataclass
class Delivery:
    id: str  # the webhook-id, the same on every attempt and replay
    case_id: uuid.UUID
    vendor: str
    url: str
    body: bytes
    status: str  # pending | delivered | dead
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    leased_until: datetime | None = None  # an attempt is in flight until then
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    @classmethod
    def of(cls, delivery_id: str, case: Case, url: str, body: bytes, now: datetime) -> Delivery:
        """The case's message, due at once."""
        return cls(delivery_id, case.id, case.vendor, url, body, "pending", 0, now, now)

    def hold(self, case: Case, reason: str) -> VendorDeliveryFailed:
        """Kept dead rather than dropped (the endpoint is disabled): a replay sends it once re-enabled."""
        self.status, self.last_error = "dead", reason
        return case.fail(0, reason, case.created_at)

    def is_attempt(self, attempt: int) -> bool:
        """Whether ``attempt`` is still this delivery's: not done, and no newer claim took it over."""
        return self.status == "pending" and self.attempts == attempt

    def log(self, result: AttemptResult, now: datetime) -> AttemptRecord:
        return AttemptRecord(
            delivery_id=self.id,
            vendor=self.vendor,
            attempt=self.attempts,
            status_code=result.status,
            latency_ms=round(result.latency_seconds * 1000, 3),
            error=result.error,
            response_excerpt=result.response_excerpt,
            attempted_at=now,
        )

    def record(
        self,
        case: Case,
        result: AttemptResult,
        *,
        url: str | None,
        endpoint: str | None,
        policy: RetryPolicy,
        now: datetime,
    ) -> Verdict:
        """Move the delivery and its case on after one attempt.

        ``url`` is where the attempt went (None: no request was made), ``endpoint`` the vendor's
        URL now. 410 Gone from the vendor's current endpoint disables it; from an endpoint that
        was changed meanwhile, the new one is tried at once.
        """
        self.leased_until = None  # the attempt is over, whatever comes next
        if url is not None:
            self.url = url
        self.last_status_code, self.last_error = result.status, result.error
        if result.status is not None and is_success(result.status):
            self.status, self.delivered_at = "delivered", now
            return Verdict("delivered", list(case.open(vendor_reference(result.response_excerpt), now)))
        is_gone = result.status in GIVE_UP_STATUSES
        if is_gone and url is not None and url != endpoint:
            self.next_attempt_at = now
            return Verdict("retrying")
        retry_at = self.next_attempt_at_after(result, policy, now)
        if retry_at is not None:
            self.next_attempt_at = retry_at
            return Verdict("retrying")
        events: list[Event] = []
        if is_gone:
            events.append(
                VendorEndpointDisabled(
                    incident_id=case.incident_id,
                    vendor=case.vendor,
                    case_id=case.id,
                    url=self.url,
                    disabled_at=now,
                )
            )
        events.append(self.dead_letter(case, result.error or "unknown error", now))
        return Verdict("dead", events, endpoint_gone=is_gone)

    def next_attempt_at_after(
        self, result: AttemptResult, policy: RetryPolicy, now: datetime
    ) -> datetime | None:
        """When to try again, or None when the schedule is spent or the answer is final.

        The vendor's Retry-After can lengthen the wait our schedule or backoff gives, never shorten
        it, up to the policy's max_backoff (domain.delivery.honour_retry_after says why).
        """
        if result.final or not should_retry(result.status) or self.attempts >= policy.attempts:
            return None
        if policy.schedule is None:
            return now + next_attempt_delay(
                self.attempts,
                result.status,
                result.retry_after,
                now,
                initial=policy.initial_backoff,
                cap=policy.max_backoff,
            )
        step = scheduled_delay(list(policy.schedule), self.attempts)
        asked = asked_to_wait(result.status, result.retry_after, now)
        return now + honour_retry_after(step, asked, policy.max_backoff)

    def dead_letter(self, case: Case, error: str, now: datetime) -> VendorDeliveryFailed:
        """No more attempts: the case goes back."""
        self.status = "dead"
        return case.fail(self.attempts, error, now)

    def give_up_unrecorded(self, case: Case, reason: str, now: datetime) -> VendorDeliveryFailed:
        """Its attempt's outcome cannot be recorded: dead rather than resent for ever."""
        self.last_error, self.leased_until = f"the attempt could not be recorded: {reason}", None
        return self.dead_letter(case, self.last_error, now)

    def check_replayable(self) -> None:
        """A delivery still being attempted is not replayed (retry pulls its next attempt instead)."""
        if self.status == "pending":
            raise Conflict(
                f"The delivery is still being attempted; POST /v1/deliveries/{self.id}/retry makes its "
                "next attempt due now.",
                delivery_status=self.status,
            )

    def replay(self, case: Case, now: datetime) -> None:
        """Send again with the same webhook-id (receivers dedupe on it), on a fresh schedule."""
        self.check_replayable()
        self.status, self.attempts, self.next_attempt_at, self.delivered_at = "pending", 0, now, None
        self.leased_until = None
        case.retry_handoff(now)

    def check_retry_now(self) -> None:
        """Only a pending delivery's next attempt can be pulled; a dead one is replayed instead."""
        if self.status == "delivered":
            raise Conflict(
                "The delivery was delivered; replay it to send it again.", delivery_status=self.status
            )

    def pull_next_attempt(self, now: datetime) -> None:
        """Make the next attempt due now; never while one is in flight (it is never sent twice)."""
        self.check_retry_now()
        if self.leased_until is not None and self.leased_until > now:
            raise Conflict(
                "An attempt of this delivery is in flight; its outcome decides the next one.",
                delivery_status=self.status,
            )
        self.next_attempt_at = min(self.next_attempt_at, now)
