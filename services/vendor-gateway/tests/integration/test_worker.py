"""The delivery worker end to end on the real PostgreSQL: what a vendor answers cannot wedge a delivery,
an outcome that cannot be recorded is dead-lettered, a 410 from an endpoint changed meanwhile does not
disable the vendor, and a vendor that stalls holds only its own slots.

The receiver runs in the test's own event loop, so a test can hold an answer until it has acted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from tierline_launcher.procs import free_port
from tierline_shared.events import VendorDeliveryFailed, VendorEndpointDisabled
from tierline_shared.testing import eventually
from tierline_vendor_gateway.adapters.sender import AttemptResult
from tierline_vendor_gateway.domain.vendors import Vendor
from tierline_vendor_gateway.entrypoints import workers
from tierline_vendor_gateway.service_layer import deliveries, registry

from .conftest import CALLBACK_SECRET, Gateway, serve_in_loop

pytestmark = pytest.mark.integration
GLOBEX_SECRET = "whsec_" + base64.b64encode(b"tierline-test-globex-webhook-secret-32b").decode()
STALL_SECONDS = 3.0


class Receiver:
    """Answers by path: /nul with a NUL after the JSON, /gone-when-released a 410 once ``release``
    is set, /stall after STALL_SECONDS (or once released), /superscript a 503 with Retry-After: ²;
    anything else 202."""

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[str] = []
        self.release = asyncio.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.seen.append(request.path)
        if request.path == "/nul":
            return web.Response(body=b'{"reference":"x"}\x00', status=202, content_type="application/json")
        if request.path == "/gone-when-released":
            await self.release.wait()
            return web.json_response({"error": "gone"}, status=410)
        if request.path == "/stall":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), STALL_SECONDS)
            return web.json_response({"reference": "LATE"}, status=202)
        if request.path == "/superscript":
            return web.Response(status=503, headers={"Retry-After": "²"})
        return web.json_response({"reference": "R-1"}, status=202)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_in_loop(receiver.handle, receiver.port):
        yield receiver
        receiver.release.set()  # held answers finish, so the server stops at once


def runtime(gateway: Gateway, **settings: Any) -> Any:
    """What the worker needs of a Runtime, as Gateway.step builds it (with settings, for the pipeline)."""
    return SimpleNamespace(
        state={"deps": gateway.deps},
        sessions=gateway.sessions,
        unit_of_work=gateway._unit_of_work,
        settings=SimpleNamespace(**settings),
    )


async def claim(gateway: Gateway) -> list[deliveries.ClaimedDelivery]:
    async with gateway.sessions() as s, s.begin():
        return await deliveries.claim_due_deliveries(
            gateway.deps.unit_of_work(s), gateway.deps, limit=50, lease=timedelta(seconds=30)
        )


async def register(gateway: Gateway, name: str, url: str, **fields: Any) -> None:
    """A second vendor, registered through the API's use case."""
    vendor = Vendor.model_validate(
        {
            "name": name,
            "webhook_url": url,
            "secrets": [GLOBEX_SECRET],
            "callback_secrets": [CALLBACK_SECRET],
            **fields,
        }
    )
    await gateway.work(registry.create, vendor, enabled=True)


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


# -- a NUL in a vendor's answer --------------------------------------------------------------------


async def test_an_answer_with_a_nul_is_recorded_and_the_case_delivered(gateway: Gateway, receiver) -> None:
    gateway.configure(receiver.url("/nul"))
    case_id = await gateway.open_case()
    async with gateway.client() as client:
        assert await gateway.step(client) == 1
        gateway.clock.advance(timedelta(minutes=5))  # a delivery left pending would come due again
        assert await gateway.step(client) == 0, "delivered at the first attempt: nothing to resend"
    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 202)
    [logged] = await gateway.log(delivery.id)
    assert logged.response_excerpt == '{"reference":"x"}\ufffd'
    assert (await gateway.case(case_id)).status == "open"
    assert kinds(await gateway.events()) == ["VendorCaseOpened"]
    assert receiver.seen == ["/nul"]


# -- an outcome that cannot be recorded -------------------------------------------------------------


async def test_an_outcome_that_cannot_be_recorded_is_dead_lettered_and_the_others_kept(
    gateway: Gateway,
) -> None:
    refused, accepted, retrying = [await gateway.open_case() for _ in range(3)]
    by_case = {(await gateway.delivery(c)).id: c for c in (refused, accepted, retrying)}
    claimed = {by_case[c.id]: c for c in await claim(gateway)}
    policy = gateway.deps.delivery

    def outcome(case_id: Any, result: AttemptResult) -> deliveries.Outcome:
        return deliveries.Outcome(claimed[case_id], result, policy, claimed[case_id].url)

    # The NUL (as _excerpt no longer lets through) makes PostgreSQL refuse the log row: the batch
    # fails, then that outcome twice on its own.
    await workers._record(
        runtime(gateway),
        [
            outcome(refused, AttemptResult(202, 0.01, '{"reference":"x"}\x00', None, None)),
            outcome(accepted, AttemptResult(202, 0.01, '{"reference":"OK-1"}', None, None)),
            outcome(retrying, AttemptResult(503, 0.01, "busy", "HTTP 503", None)),
        ],
    )

    dead = await gateway.delivery(refused)
    assert (dead.status, dead.attempts) == ("dead", 1)
    assert dead.last_error.startswith("the attempt could not be recorded: "), dead.last_error
    assert await gateway.log(dead.id) == [], "its attempt was never recorded"
    assert (await gateway.case(refused)).status == "failed"
    events = await gateway.events()
    [failed] = [e for e in events if isinstance(e, VendorDeliveryFailed)]
    assert (failed.case_id, failed.attempts, failed.last_error) == (refused, 1, dead.last_error)

    delivered = await gateway.delivery(accepted)
    assert (delivered.status, len(await gateway.log(delivered.id))) == ("delivered", 1)
    assert (await gateway.case(accepted)).vendor_reference == "OK-1"
    pending = await gateway.delivery(retrying)
    assert (pending.status, pending.last_status_code) == ("pending", 503)
    assert pending.next_attempt_at < gateway.clock.now() + timedelta(seconds=30), "backoff, not the lease"
    assert [e.case_id for e in events if type(e).__name__ == "VendorCaseOpened"] == [accepted]


async def test_a_delivery_dead_lettered_by_another_worker_meanwhile_is_left_alone(gateway: Gateway) -> None:
    case_id = await gateway.open_case()
    [claimed] = await claim(gateway)
    await gateway.work(deliveries.dead_letter_unrecorded, claimed, "DataError")
    result = AttemptResult(202, 0.01, "\x00", None, None)
    await workers._record(
        runtime(gateway), [deliveries.Outcome(claimed, result, gateway.deps.delivery, None)]
    )
    assert (await gateway.delivery(case_id)).status == "dead"
    assert kinds(await gateway.events()) == ["VendorDeliveryFailed"], "failed once, not twice"


async def test_a_503_with_an_unreadable_retry_after_is_retried(gateway: Gateway, receiver) -> None:
    gateway.configure(receiver.url("/superscript"))
    case_id = await gateway.open_case()
    async with gateway.client() as client:
        assert await gateway.step(client) == 1
    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.last_status_code) == ("pending", 503), delivery.last_error


# -- 410 Gone from an endpoint that is no longer the vendor's ------------------------------------


async def test_a_410_from_an_endpoint_changed_meanwhile_sends_the_next_attempt_to_the_new_one(
    gateway: Gateway, receiver
) -> None:
    old, new = receiver.url("/gone-when-released"), receiver.url("/cases")
    gateway.configure(old)
    case_id = await gateway.open_case()
    rt = runtime(gateway)
    async with gateway.client() as client:
        attempt = asyncio.create_task(workers._attempt_batch(rt, client, await claim(gateway)))
        await eventually(lambda: receiver.seen == ["/gone-when-released"], timeout=5, what="the attempt")
        current = (await gateway.work(lambda uow, _d: registry.get(uow, "acme"))).vendor
        changed = Vendor.model_validate({**current.model_dump(), "webhook_url": new})
        await gateway.work(registry.update, changed)  # as PATCH does, while the attempt is in flight
        receiver.release.set()
        await asyncio.wait_for(attempt, 5)

        pending = await gateway.delivery(case_id)
        assert (pending.status, pending.attempts, pending.last_status_code) == ("pending", 1, 410)
        assert pending.next_attempt_at == gateway.clock.now(), "due at once"
        assert pending.url == old, "the URL last attempted"
        acme = await gateway.work(lambda uow, _d: registry.get(uow, "acme"))
        assert (acme.is_enabled, acme.disabled_reason) == (True, None)
        assert [e.is_enabled for e in await gateway.events(vendors=True)] == [True, True], "start, change"
        assert await gateway.events() == [], "no VendorEndpointDisabled, no VendorDeliveryFailed"

        assert await gateway.step(client) == 1, "no clock advance needed"
    delivered = await gateway.delivery(case_id)
    assert (delivered.status, delivered.attempts, delivered.url) == ("delivered", 2, new)
    assert receiver.seen == ["/gone-when-released", "/cases"]
    assert [a.status_code for a in await gateway.log(delivered.id)] == [410, 202]


async def test_a_410_from_the_current_endpoint_still_disables_the_vendor(gateway: Gateway, receiver) -> None:
    gateway.configure(receiver.url("/gone-when-released"))
    receiver.release.set()
    case_id = await gateway.open_case()
    async with gateway.client() as client:
        await workers._attempt_batch(runtime(gateway), client, await claim(gateway))
    assert (await gateway.delivery(case_id)).status == "dead"
    acme = await gateway.work(lambda uow, _d: registry.get(uow, "acme"))
    assert not acme.is_enabled and "410" in (acme.disabled_reason or "")
    events = await gateway.events()
    assert kinds(events) == ["VendorEndpointDisabled", "VendorDeliveryFailed"]
    assert isinstance(events[0], VendorEndpointDisabled) and events[0].case_id == case_id


# -- the pipeline: a vendor that stalls holds only its own slots ---------------------------------


async def test_a_stalled_vendor_holds_only_its_own_slots(gateway: Gateway, receiver) -> None:
    gateway.configure(receiver.url("/cases"))
    await register(gateway, "globex", receiver.url("/stall"), timeout="5s")
    stalled = [await gateway.open_case("globex") for _ in range(3)]
    fast = [await gateway.open_case("acme") for _ in range(5)]
    rt = runtime(gateway, delivery_batch_size=10, delivery_poll_seconds=0.05)

    worker = asyncio.create_task(workers.deliver_webhooks(rt))
    try:

        async def fast_delivered() -> bool:
            return [(await gateway.delivery(c)).status for c in fast] == ["delivered"] * len(fast)

        await eventually(fast_delivered, timeout=2, what="the fast vendor's deliveries")
        assert receiver.seen.count("/stall") == 3, "the stalled vendor's attempts are in flight"
        for case_id in stalled:
            delivery = await gateway.delivery(case_id)
            assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
        assert receiver.seen.count("/cases") == 5, "each fast delivery sent once"
    finally:
        worker.cancel()
        stopping = time.monotonic()
        done, _ = await asyncio.wait({worker}, timeout=2)
    assert worker in done and worker.cancelled(), "the worker stops when cancelled"
    assert time.monotonic() - stopping < 1, "in-flight attempts are cancelled, not awaited"
    for case_id in stalled:
        assert (await gateway.delivery(case_id)).status == "pending", "its lease brings it back"
    assert {(await gateway.case(c)).status for c in fast} == {"open"}
