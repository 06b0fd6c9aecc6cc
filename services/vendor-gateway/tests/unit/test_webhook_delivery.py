"""The Delivery aggregate: what one attempt's answer does to a delivery and its case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tierline_shared.errors import Conflict
from tierline_shared.events import VendorCaseOpened, VendorDeliveryFailed, VendorEndpointDisabled
from tierline_vendor_gateway.domain.case import Case
from tierline_vendor_gateway.domain.webhook import AttemptResult, Delivery, Verdict, vendor_reference

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=1)
URL = "https://acme.example/hooks"


@dataclass(frozen=True)
class Policy:
    attempts: int = 3
    initial_backoff: timedelta = timedelta(seconds=2)
    max_backoff: timedelta = timedelta(minutes=10)
    schedule: list[timedelta] | None = None


def handoff(attempts: int = 1) -> tuple[Delivery, Case]:
    case = Case.hand_off(uuid.uuid4(), uuid.uuid4(), "acme", T0)
    delivery = Delivery.of("msg_1", case, URL, b"{}", T0)
    delivery.attempts, delivery.leased_until = attempts, T0 + timedelta(seconds=90)
    return delivery, case


def answer(
    status: int | None,
    excerpt: str = "",
    *,
    error: str | None = None,
    retry_after: str | None = None,
    final: bool = False,
) -> AttemptResult:
    return AttemptResult(status, 0.0123, excerpt, error, retry_after, final)


def record(
    delivery: Delivery,
    case: Case,
    result: AttemptResult,
    *,
    url: str | None = URL,
    endpoint: str | None = URL,
    policy: Policy | None = None,
) -> Verdict:
    return delivery.record(case, result, url=url, endpoint=endpoint, policy=policy or Policy(), now=NOW)


def test_a_new_delivery_is_due_at_once() -> None:
    delivery, case = handoff(0)
    assert (delivery.status, delivery.next_attempt_at, delivery.case_id, delivery.vendor) == (
        "pending",
        T0,
        case.id,
        "acme",
    )


def test_success_delivers_and_opens_the_case() -> None:
    delivery, case = handoff()
    verdict = record(delivery, case, answer(200, '{"reference": "ACME-7"}'))
    assert verdict.outcome == "delivered" and not verdict.endpoint_gone
    [event] = verdict.events
    assert isinstance(event, VendorCaseOpened) and event.vendor_reference == "ACME-7"
    assert (delivery.status, delivery.delivered_at, delivery.leased_until, delivery.last_status_code) == (
        "delivered",
        NOW,
        None,
        200,
    )
    assert case.status == "open"


def test_a_replay_of_an_open_case_announces_nothing() -> None:
    delivery, case = handoff()
    case.open("ACME-1", T0)
    assert record(delivery, case, answer(204)).events == []


def test_a_retryable_answer_schedules_the_next_attempt() -> None:
    delivery, case = handoff()
    verdict = record(delivery, case, answer(503, error="HTTP 503"))
    assert (verdict.outcome, verdict.events) == ("retrying", [])
    assert NOW <= delivery.next_attempt_at <= NOW + timedelta(seconds=2)
    assert (delivery.status, delivery.last_error, case.status) == ("pending", "HTTP 503", "pending")


def test_retry_after_lengthens_the_wait() -> None:
    delivery, case = handoff()
    record(delivery, case, answer(429, retry_after="120"))
    assert delivery.next_attempt_at == NOW + timedelta(seconds=120)


def test_a_fixed_schedule_sets_the_next_wait() -> None:
    delivery, case = handoff()
    record(
        delivery,
        case,
        answer(None, error="timeout"),
        policy=Policy(schedule=[timedelta(0), timedelta(minutes=5)]),
    )
    assert NOW + timedelta(minutes=5) <= delivery.next_attempt_at <= NOW + timedelta(minutes=5.5)


def test_the_last_attempt_dead_letters_and_fails_the_case() -> None:
    delivery, case = handoff(attempts=3)
    verdict = record(delivery, case, answer(500, error="HTTP 500"))
    assert verdict.outcome == "dead"
    [event] = verdict.events
    assert isinstance(event, VendorDeliveryFailed)
    assert (event.attempts, event.last_error, event.failed_at) == (3, "HTTP 500", NOW)
    assert (delivery.status, case.status) == ("dead", "failed")


def test_a_final_answer_is_not_retried() -> None:
    delivery, case = handoff()
    assert record(delivery, case, answer(400, error="HTTP 400")).outcome == "dead"
    other, its_case = handoff()
    refused = answer(None, error="refused by the SSRF guard", final=True)
    assert record(other, its_case, refused, url=None).outcome == "dead"
    assert other.url == URL, "no request was made: the URL stays"


def test_an_error_less_failure_names_an_unknown_error() -> None:
    delivery, case = handoff()
    [event] = record(delivery, case, answer(404)).events
    assert isinstance(event, VendorDeliveryFailed) and event.last_error == "unknown error"


def test_gone_disables_the_endpoint() -> None:
    delivery, case = handoff()
    verdict = record(delivery, case, answer(410, error="HTTP 410"))
    assert (verdict.outcome, verdict.endpoint_gone) == ("dead", True)
    disabled, failed = verdict.events
    assert isinstance(disabled, VendorEndpointDisabled) and disabled.url == URL
    assert isinstance(failed, VendorDeliveryFailed)


def test_gone_from_a_replaced_endpoint_tries_the_new_one_at_once() -> None:
    delivery, case = handoff()
    verdict = record(delivery, case, answer(410), endpoint="https://acme.example/v2")
    assert (verdict.outcome, verdict.events, verdict.endpoint_gone) == ("retrying", [], False)
    assert (delivery.next_attempt_at, delivery.status) == (NOW, "pending")


def test_the_attempted_url_is_kept() -> None:
    delivery, case = handoff()
    record(delivery, case, answer(500), url="https://acme.example/new", endpoint="https://acme.example/new")
    assert delivery.url == "https://acme.example/new"


def test_only_the_current_attempt_counts() -> None:
    delivery, _ = handoff(attempts=2)
    assert delivery.is_attempt(2) and not delivery.is_attempt(1)
    delivery.status = "dead"
    assert not delivery.is_attempt(2)


def test_the_log_line() -> None:
    delivery, _ = handoff(attempts=2)
    line = delivery.log(answer(502, "bad gateway", error="HTTP 502"), NOW)
    assert (line.delivery_id, line.vendor, line.attempt, line.status_code, line.latency_ms) == (
        "msg_1",
        "acme",
        2,
        502,
        12.3,
    )
    assert (line.error, line.response_excerpt, line.attempted_at) == ("HTTP 502", "bad gateway", NOW)


def test_a_delivery_held_for_a_disabled_endpoint() -> None:
    case = Case.hand_off(uuid.uuid4(), uuid.uuid4(), "acme", T0)
    delivery = Delivery.of("msg_1", case, URL, b"{}", T0)
    event = delivery.hold(case, "disabled")
    assert (delivery.status, delivery.last_error, case.status) == ("dead", "disabled", "failed")
    assert (event.attempts, event.failed_at) == (0, T0)


def test_an_unrecordable_attempt_is_dead_lettered() -> None:
    delivery, case = handoff(attempts=2)
    event = delivery.give_up_unrecorded(case, "DataError", NOW)
    assert delivery.last_error == "the attempt could not be recorded: DataError"
    assert (delivery.status, delivery.leased_until, event.attempts, event.last_error) == (
        "dead",
        None,
        2,
        delivery.last_error,
    )


def test_replay_starts_a_fresh_schedule_and_reopens_a_failed_case() -> None:
    delivery, case = handoff(attempts=3)
    record(delivery, case, answer(500))
    delivery.replay(case, NOW)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at, delivery.delivered_at) == (
        "pending",
        0,
        NOW,
        None,
    )
    assert case.status == "pending"


def test_a_pending_delivery_is_not_replayed() -> None:
    delivery, case = handoff()
    with pytest.raises(Conflict) as raised:
        delivery.replay(case, NOW)
    assert raised.value.extensions == {"delivery_status": "pending"}


def test_retry_now_pulls_the_next_attempt() -> None:
    delivery, case = handoff()
    record(delivery, case, answer(500))
    delivery.next_attempt_at = NOW + timedelta(hours=1)
    delivery.pull_next_attempt(NOW)
    assert delivery.next_attempt_at == NOW


def test_retry_now_refuses_an_attempt_in_flight_and_a_delivered_message() -> None:
    delivery, case = handoff()
    with pytest.raises(Conflict, match="in flight"):
        delivery.pull_next_attempt(NOW)
    record(delivery, case, answer(200))
    with pytest.raises(Conflict, match="replay it"):
        delivery.check_retry_now()


@pytest.mark.parametrize(
    ("excerpt", "expected"),
    [
        ('{"reference": "A-1"}', "A-1"),
        ('{"vendor_reference": 42}', "42"),
        ("[1]", None),
        ("not json", None),
        ("{}", None),
    ],
)
def test_the_vendors_reference_in_its_answer(excerpt: str, expected: str | None) -> None:
    assert vendor_reference(excerpt) == expected
