""" "Retry now" (POST /v1/deliveries/{id}/retry) on the real PostgreSQL: a pending delivery becomes due at
once, an attempt in flight is never sent twice, the worker and the operator lock rows the same way,
a dead delivery is replayed and a delivered one is a 409.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from tierline_shared.errors import Conflict, NotFound
from tierline_shared.testing import eventually, issue_api_key
from tierline_vendor_gateway.entrypoints import workers
from tierline_vendor_gateway.service_layer import deliveries, registry

from .conftest import CALLBACK_SECRET, WEBHOOK_SECRET, Gateway, open_l4_case

pytestmark = pytest.mark.integration
LEASE = timedelta(seconds=90)
HOURLY = ["0s", "1h"]  # after a failure, the next attempt is an hour away


async def claim(gateway: Gateway, session: Any | None = None) -> list[deliveries.ClaimedDelivery]:
    """What the worker's claim takes now, in its own transaction (or in ``session``'s)."""
    if session is not None:
        return await deliveries.claim_due_deliveries(
            gateway.deps.unit_of_work(session), gateway.deps, limit=50, lease=LEASE
        )
    return await gateway.work(deliveries.claim_due_deliveries, limit=50, lease=LEASE)


def runtime(gateway: Gateway) -> Any:
    return SimpleNamespace(
        state={"deps": gateway.deps}, sessions=gateway.sessions, unit_of_work=gateway._unit_of_work
    )


async def test_a_pending_delivery_is_pulled_to_now_but_never_while_an_attempt_is_in_flight(
    gateway: Gateway, faulty_vendor
) -> None:
    vendor = faulty_vendor((500, {}, {}), (202, {}, {"reference": "ACME-7"}))
    gateway.configure(vendor.url, schedule=HOURLY)
    case_id = await gateway.open_case()
    delivery_id = (await gateway.delivery(case_id)).id
    [claimed] = await claim(gateway)  # a worker has it: the attempt is in flight

    with pytest.raises(Conflict, match="in flight"):
        await gateway.work(deliveries.retry_now, delivery_id)
    assert await claim(gateway) == [], "no second worker takes it"
    async with gateway.client() as client:
        await workers._attempt(runtime(gateway), client, claimed)  # the vendor answers 500
        failed = await gateway.delivery(case_id)
        assert (failed.status, failed.attempts, failed.leased_until) == ("pending", 1, None)
        assert failed.next_attempt_at >= gateway.clock.now() + timedelta(hours=1)
        assert await gateway.step(client) == 0, "not due for an hour"

        pulled = await gateway.work(deliveries.retry_now, delivery_id)
        assert (pulled.status, pulled.attempts, pulled.next_attempt_at) == ("pending", 1, gateway.clock.now())
        assert await gateway.step(client) == 1, "due at once, the clock never moved"
    delivered = await gateway.delivery(case_id)
    assert (delivered.status, delivered.attempts) == ("delivered", 2)
    assert [(a.attempt, a.status_code) for a in await gateway.log(delivery_id)] == [(1, 500), (2, 202)]
    assert vendor.webhook_ids == [delivery_id, delivery_id], "sent once per attempt, same webhook-id"
    assert (await gateway.case(case_id)).status == "open"
    with pytest.raises(Conflict, match="replay it"):
        await gateway.work(deliveries.retry_now, delivery_id)


async def _waiting_on_a_lock(gateway: Gateway) -> bool:
    async with gateway.sessions() as s:
        waiting = await s.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_retry_waits_for_a_claim_being_made_then_finds_the_attempt_in_flight(gateway: Gateway) -> None:
    case_id = await gateway.open_case()
    delivery_id = (await gateway.delivery(case_id)).id
    async with gateway.sessions() as claimer:
        await claimer.begin()
        [claimed] = await claim(gateway, claimer)  # the claim's transaction holds the row
        retry = asyncio.create_task(gateway.work(deliveries.retry_now, delivery_id))
        await eventually(lambda: _waiting_on_a_lock(gateway), what="the retry waiting for the claim's lock")
        assert not retry.done()
        await claimer.commit()
    with pytest.raises(Conflict, match="in flight"):
        await retry
    assert claimed.id == delivery_id and await claim(gateway) == []


async def test_a_claim_skips_a_delivery_an_operator_holds_and_takes_it_after(gateway: Gateway) -> None:
    case_id = await gateway.open_case()
    delivery_id = (await gateway.delivery(case_id)).id
    async with gateway.sessions() as operator, operator.begin():
        await deliveries.retry_now(
            gateway.deps.unit_of_work(operator), gateway.deps, delivery_id
        )  # due already: it stays due
        # SKIP LOCKED: the worker neither waits on the operator nor takes the row mid-change
        assert await asyncio.wait_for(claim(gateway), timeout=10) == []
    [claimed] = await claim(gateway)
    assert (claimed.id, claimed.attempt) == (delivery_id, 1)


async def test_a_dead_delivery_is_replayed_on_a_fresh_schedule(gateway: Gateway, faulty_vendor) -> None:
    vendor = faulty_vendor((500, {}, {}), (202, {}, {}))
    gateway.configure(vendor.url, schedule=["0s"])  # one attempt, then dead
    case_id = await gateway.open_case()
    await gateway.settle()
    dead = await gateway.delivery(case_id)
    assert (dead.status, (await gateway.case(case_id)).status) == ("dead", "failed")

    replayed = await gateway.work(deliveries.retry_now, dead.id)
    assert (replayed.status, replayed.attempts, replayed.next_attempt_at) == (
        "pending",
        0,
        gateway.clock.now(),
    )
    assert (await gateway.case(case_id)).status == "pending"
    await gateway.settle()
    assert (await gateway.delivery(case_id)).status == "delivered"
    assert vendor.webhook_ids == [dead.id, dead.id]


async def test_unknown_and_disabled(gateway: Gateway) -> None:
    case_id = await gateway.open_case()
    delivery_id = (await gateway.delivery(case_id)).id
    with pytest.raises(NotFound):
        await gateway.work(deliveries.retry_now, "msg_nope")
    await gateway.work(registry.switch, "acme", enabled=False, reason="maintenance")
    with pytest.raises(Conflict, match="re-enable it first"):
        await gateway.work(deliveries.retry_now, delivery_id)


async def test_retry_over_http_gets_a_waiting_case_to_the_vendor_now(gateway_app, faulty_vendor) -> None:
    vendor = faulty_vendor((500, {}, {}), (202, {}, {"reference": "ACME-7"}))
    vendors = {
        "vendors": [
            {
                "name": "acme",
                "webhook_url": vendor.url,
                "secrets": [WEBHOOK_SECRET],
                "callback_secrets": [CALLBACK_SECRET],
                "schedule": HOURLY,
            }
        ],
        "delivery": {"allow_hosts": ["127.0.0.1"]},
    }
    async with gateway_app(vendors) as (http, rt):
        async with rt.unit_of_work() as session:
            case_id = await open_l4_case(session, rt.state["deps"], "acme")

        async def delivery(attempts: int, status: str) -> dict[str, Any] | None:
            [found] = (await http.get("/v1/deliveries", params={"vendor": "acme"})).json()
            return found if (len(found["log"]), found["status"]) == (attempts, status) else None

        waiting = await eventually(lambda: delivery(1, "pending"), what="the first attempt failed")
        assert datetime.fromisoformat(waiting["next_attempt_at"]) - rt.clock.now() > timedelta(minutes=59)

        reader = await issue_api_key(rt, ["incidents:read"])
        assert (await http.post(f"/v1/deliveries/{waiting['id']}/retry", headers=reader)).status_code == 403
        response = await http.post(f"/v1/deliveries/{waiting['id']}/retry")
        assert response.status_code == 202, response.text
        pulled = response.json()
        assert (pulled["id"], pulled["status"], pulled["attempts"]) == (waiting["id"], "pending", 1)
        assert datetime.fromisoformat(pulled["next_attempt_at"]) <= rt.clock.now()

        done = await eventually(lambda: delivery(2, "delivered"), what="the retry delivered")
        assert [(a["attempt"], a["status_code"]) for a in done["log"]] == [(1, 500), (2, 202)]
        assert vendor.webhook_ids == [waiting["id"]] * 2
        case = (await http.get(f"/v1/cases/{case_id}")).json()
        assert (case["status"], case["vendor_reference"]) == ("open", "ACME-7")

        again = await http.post(f"/v1/deliveries/{waiting['id']}/retry")
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        assert "replay it" in again.json()["detail"]
        missing = await http.post("/v1/deliveries/msg_nope/retry")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_the_delivery_log_is_read_from_one_snapshot(gateway_app, faulty_vendor) -> None:
    """A delivery and its log are two queries; an attempt recorded between them must not pair the
    leased row (next attempt in 90 s) with the attempt's log entry — what CI once saw."""
    vendor = faulty_vendor((500, {}, {}))
    vendors = {
        "vendors": [
            {
                "name": "acme",
                "webhook_url": vendor.url,
                "secrets": [WEBHOOK_SECRET],
                "callback_secrets": [CALLBACK_SECRET],
                "schedule": HOURLY,
            }
        ],
        "delivery": {"allow_hosts": ["127.0.0.1"]},
    }
    async with gateway_app(vendors) as (http, rt):
        async with rt.unit_of_work() as session:
            await open_l4_case(session, rt.state["deps"], "acme")
        await eventually(lambda: _logged(http, 1), what="the first attempt failed and was logged")
        async with rt.snapshot() as reading:
            before = (await reading.execute(text("SELECT count(*) FROM delivery_attempts"))).scalar_one()
            async with rt.unit_of_work() as writing:
                await writing.execute(
                    text(
                        "INSERT INTO delivery_attempts SELECT gen_random_uuid(), delivery_id, vendor,"
                        " attempt + 1, status_code, latency_ms, error, response_excerpt, attempted_at"
                        " FROM delivery_attempts"
                    )
                )
            after = (await reading.execute(text("SELECT count(*) FROM delivery_attempts"))).scalar_one()
            assert (before, after) == (1, 1)
            with pytest.raises(Exception, match="read-only transaction"):
                await reading.execute(text("DELETE FROM delivery_attempts"))


async def _logged(http: Any, attempts: int) -> bool:
    [found] = (await http.get("/v1/deliveries", params={"vendor": "acme"})).json()
    return len(found["log"]) == attempts
