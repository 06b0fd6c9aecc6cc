"""The delivery log, a fixed retry schedule, 410 and replays, the SSRF guard: the real PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from tierline_shared.errors import Conflict, NotFound
from tierline_shared.events import (
    VendorCaseOpened,
    VendorDeliveryFailed,
    VendorEndpointDisabled,
)
from tierline_vendor_gateway.adapters.orm import VendorStateRow
from tierline_vendor_gateway.service_layer import deliveries, registry

pytestmark = pytest.mark.integration
SCHEDULE = ["0s", "10s", "1m", "5m"]


def kinds(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


async def test_each_attempt_is_logged_in_order_and_follows_the_schedule(gateway, faulty_vendor) -> None:
    vendor = faulty_vendor(
        (500, {}, {"error": "boom"}),
        (429, {"retry-after": "120"}, {"error": "slow down"}),
        (200, {}, {"reference": "ACME-9"}),
    )
    gateway.configure(vendor.url, schedule=SCHEDULE)
    case_id = await gateway.open_case()
    t0 = gateway.clock.now()
    async with gateway.client() as client:
        assert await gateway.step(client) == 1  # 500
        first = await gateway.delivery(case_id)
        # schedule[1] = 10s, stretched by up to 10 %
        assert t0 + timedelta(seconds=10) <= first.next_attempt_at <= t0 + timedelta(seconds=11)
        gateway.clock.advance(timedelta(seconds=9))
        assert await gateway.step(client) == 0, "not due before the schedule says"
        gateway.clock.advance(first.next_attempt_at - gateway.clock.now())
        t1 = gateway.clock.now()
        assert await gateway.step(client) == 1  # 429, Retry-After: 120 beats schedule[2] = 1m
        second = await gateway.delivery(case_id)
        assert second.next_attempt_at == t1 + timedelta(seconds=120)
        gateway.clock.advance(timedelta(seconds=120))
        t2 = gateway.clock.now()
        assert await gateway.step(client) == 1  # 200
    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("delivered", 3, t2)
    log = await gateway.log(delivery.id)
    assert [(a.attempt, a.status_code, a.error) for a in log] == [
        (1, 500, "HTTP 500"),
        (2, 429, "HTTP 429"),
        (3, 200, None),
    ]
    assert [a.attempted_at for a in log] == [t0, t1, t2]
    assert all(a.latency_ms > 0 and a.vendor == "acme" for a in log)
    assert [json.loads(a.response_excerpt) for a in log] == [
        {"error": "boom"},
        {"error": "slow down"},
        {"reference": "ACME-9"},
    ]
    assert set(vendor.webhook_ids) == {delivery.id}
    assert all(valid for _, _, valid in vendor.seen)
    assert (await gateway.case(case_id)).vendor_reference == "ACME-9"


async def test_retry_after_shorter_than_the_schedule_does_not_shorten_it(gateway, faulty_vendor) -> None:
    vendor = faulty_vendor((503, {"retry-after": "1"}, {}))
    gateway.configure(vendor.url, schedule=SCHEDULE)
    case_id = await gateway.open_case()
    async with gateway.client() as client:
        await gateway.step(client)
    delivery = await gateway.delivery(case_id)
    now = gateway.clock.now()
    assert now + timedelta(seconds=10) <= delivery.next_attempt_at <= now + timedelta(seconds=11)


async def test_issue_13_a_429_asking_for_5s_waits_for_the_schedules_next_step(gateway, faulty_vendor) -> None:
    """Retry-After is the least the vendor asks us to wait; the schedule keeps its pace (and its hours)."""
    vendor = faulty_vendor((429, {"retry-after": "5"}, {}), (202, {}, {}))
    gateway.configure(vendor.url, schedule=["0s", "5m"])
    case_id = await gateway.open_case()
    async with gateway.client() as client:
        await gateway.step(client)
    now = gateway.clock.now()
    next_at = (await gateway.delivery(case_id)).next_attempt_at
    assert now + timedelta(minutes=5) <= next_at <= now + timedelta(minutes=5.5)


async def test_without_a_schedule_a_longer_retry_after_lengthens_the_backoff_up_to_max_backoff(
    gateway, faulty_vendor
) -> None:
    vendor = faulty_vendor(
        (429, {"retry-after": "120"}, {}), (503, {"retry-after": "86400"}, {}), (202, {}, {})
    )
    gateway.configure(vendor.url)  # exponential from 1s; max_backoff 10m
    case_id = await gateway.open_case()
    async with gateway.client() as client:
        await gateway.step(client)  # 429: the backoff (at most 1s) is lengthened to 120s
        assert (await gateway.delivery(case_id)).next_attempt_at == gateway.clock.now() + timedelta(
            seconds=120
        )
        gateway.clock.advance(timedelta(seconds=120))
        await gateway.step(client)  # 503 asking for a day: we ask again after max_backoff
        assert (await gateway.delivery(case_id)).next_attempt_at == gateway.clock.now() + timedelta(
            minutes=10
        )
        gateway.clock.advance(timedelta(minutes=10))
        await gateway.step(client)
    assert (await gateway.delivery(case_id)).status == "delivered"


async def test_a_spent_schedule_dead_letters(gateway, faulty_vendor) -> None:
    vendor = faulty_vendor((500, {}, {}))
    gateway.configure(vendor.url, schedule=["0s", "1s", "2s"], max_attempts=10)
    case_id = await gateway.open_case()
    await gateway.settle()
    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.attempts, len(vendor.seen)) == ("dead", 3, 3)
    assert [a.attempt for a in await gateway.log(delivery.id)] == [1, 2, 3]
    assert (await gateway.case(case_id)).status == "failed"
    [failed] = await gateway.events()
    assert isinstance(failed, VendorDeliveryFailed)
    assert (failed.case_id, failed.attempts, failed.last_error) == (case_id, 3, "HTTP 500")


async def test_gone_disables_the_vendor_and_replay_waits_for_it(gateway, faulty_vendor) -> None:
    vendor = faulty_vendor((410, {}, {"error": "gone"}), (202, {}, {"reference": "ACME-2"}))
    gateway.configure(vendor.url)
    case_id = await gateway.open_case()
    await gateway.settle()
    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("dead", 1, 410)
    disabled, failed = await gateway.events()
    assert isinstance(disabled, VendorEndpointDisabled) and isinstance(failed, VendorDeliveryFailed)
    assert (disabled.case_id, disabled.vendor, disabled.url) == (case_id, "acme", delivery.url)
    async with gateway.sessions() as s:
        assert not (await registry.get(gateway.deps.unit_of_work(s), "acme")).is_enabled
        state = await s.get(VendorStateRow, "acme")
    assert state is not None and "410" in (state.reason or "")

    later = await gateway.open_case()  # fails at once, without a call, but is kept for a replay
    assert (await gateway.case(later)).status == "failed"
    assert kinds(await gateway.events())[-1] == "VendorDeliveryFailed"
    kept = await gateway.delivery(later)
    assert (kept.status, kept.attempts) == ("dead", 0) and "disabled" in (kept.last_error or "")

    with pytest.raises(Conflict, match="disabled"):
        await gateway.work(deliveries.replay, delivery.id)
    assert (await gateway.delivery(case_id)).status == "dead"

    await gateway.work(registry.set_enabled, "acme", True, None)
    gateway.clock.advance(timedelta(minutes=1))
    replayed = await gateway.work(deliveries.replay, delivery.id)
    assert replayed.id == delivery.id
    again = await gateway.delivery(case_id)
    assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, gateway.clock.now())
    assert (await gateway.case(case_id)).status == "pending"
    with pytest.raises(Conflict, match="still being attempted"):
        await gateway.work(deliveries.replay, delivery.id)

    await gateway.settle()
    assert (await gateway.delivery(case_id)).status == "delivered"
    assert (await gateway.case(case_id)).status == "open"
    assert vendor.webhook_ids == [delivery.id, delivery.id]
    assert len({body for _, body, _ in vendor.seen}) == 1, "a replay sends identical bytes"
    assert isinstance((await gateway.events())[-1], VendorCaseOpened)

    await gateway.work(deliveries.replay, kept.id)  # the case opened while disabled reaches the vendor now
    await gateway.settle()
    assert (await gateway.delivery(later)).status == "delivered"
    assert (await gateway.case(later)).status == "open"
    assert vendor.webhook_ids == [delivery.id, delivery.id, kept.id]


async def test_a_pending_delivery_of_a_disabled_vendor_fails_without_a_call(gateway, faulty_vendor) -> None:
    vendor = faulty_vendor((410, {}, {}))
    gateway.configure(vendor.url)
    first, second = await gateway.open_case(), await gateway.open_case()  # both queued before the 410
    await gateway.settle()
    deliveries = await gateway.deliveries()
    assert {(d.case_id, d.status, d.attempts) for d in deliveries} == {
        (first, "dead", 1),
        (second, "dead", 1),
    }
    assert len(vendor.seen) == 1, "the disabled endpoint is not called again"
    [other] = [d for d in deliveries if d.id != vendor.webhook_ids[0]]
    [entry] = await gateway.log(other.id)
    assert entry.status_code is None and "disabled" in (entry.error or "")
    assert kinds(await gateway.events()).count("VendorEndpointDisabled") == 1


async def test_replay_gives_a_dead_delivery_a_fresh_schedule(gateway, faulty_vendor) -> None:
    vendor = faulty_vendor((500, {}, {}), (500, {}, {}), (500, {}, {}), (202, {}, {}))
    gateway.configure(vendor.url, schedule=["0s", "1s"])
    case_id = await gateway.open_case()
    await gateway.settle()
    dead = await gateway.delivery(case_id)
    assert (dead.status, dead.attempts) == ("dead", 2)

    gateway.clock.advance(timedelta(hours=1))  # an operator replays it later
    await gateway.work(deliveries.replay, dead.id)
    await gateway.settle()
    delivered = await gateway.delivery(case_id)
    assert (delivered.id, delivered.status, delivered.attempts) == (dead.id, "delivered", 2)
    log = await gateway.log(dead.id)
    assert [(a.attempt, a.status_code) for a in log] == [(1, 500), (2, 500), (1, 500), (2, 202)]
    assert vendor.webhook_ids == [dead.id] * 4
    assert kinds(await gateway.events()) == ["VendorDeliveryFailed", "VendorCaseOpened"]

    with pytest.raises(NotFound):
        await gateway.work(deliveries.replay, "msg_nope")


async def test_a_url_refused_by_the_ssrf_guard_is_final(gateway, faulty_vendor) -> None:
    vendor = faulty_vendor((200, {}, {}))
    gateway.configure(vendor.url)  # registered while 127.0.0.1 was allow-listed
    case_id = await gateway.open_case()
    # The allow-list narrowed since (registration cannot refuse it then; nor a DNS answer changed later)
    narrowed = gateway.deps.delivery.model_copy(update={"allow_hosts": []})
    gateway.deps = replace(gateway.deps, delivery=narrowed)
    await gateway.settle()
    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.attempts) == ("dead", 1)
    assert vendor.seen == [], "the receiver is never called"
    [entry] = await gateway.log(delivery.id)
    assert entry.status_code is None and entry.error is not None and "SSRF" in entry.error
    assert (await gateway.case(case_id)).status == "failed"
    [failed] = await gateway.events()
    assert isinstance(failed, VendorDeliveryFailed) and "SSRF" in failed.last_error
    async with gateway.sessions() as s:
        assert (await registry.get(gateway.deps.unit_of_work(s), "acme")).is_enabled, (
            "a refusal is not a 410: the vendor stays enabled"
        )


async def test_every_message_is_delivered_or_dead_lettered_under_one_webhook_id(
    gateway, faulty_vendor
) -> None:
    vendor = faulty_vendor(
        (500, {}, {}),
        (202, {}, {}),
        (503, {"retry-after": "2"}, {}),
        (408, {}, {}),
        (400, {}, {"error": "bad"}),
        (429, {}, {}),
        (202, {}, {}),
        (500, {}, {}),
    )
    gateway.configure(vendor.url, schedule=["0s", "1s", "5s"])
    case_ids = [await gateway.open_case() for _ in range(5)]
    await gateway.settle()
    deliveries = await gateway.deliveries()
    assert {d.case_id for d in deliveries} == set(case_ids)
    assert {d.status for d in deliveries} <= {"delivered", "dead"}
    by_case: dict[str, set[str]] = {}
    for headers, body, _ in vendor.seen:
        by_case.setdefault(json.loads(body)["data"]["case_id"], set()).add(headers["webhook-id"])
    assert all(len(ids) == 1 for ids in by_case.values()), by_case
    assert {next(iter(ids)) for ids in by_case.values()} == {d.id for d in deliveries}
    events = await gateway.events()
    opened = {e.case_id for e in events if isinstance(e, VendorCaseOpened)}
    failed = {e.case_id for e in events if isinstance(e, VendorDeliveryFailed)}
    assert opened == {d.case_id for d in deliveries if d.status == "delivered"}
    assert failed == {d.case_id for d in deliveries if d.status == "dead"}
    for d in deliveries:
        assert len(await gateway.log(d.id)) == d.attempts
