"""The worker reads the vendor registry live, and vendors.yaml is re-applied at every start."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tierline_shared.events import VendorEndpointDisabled
from tierline_vendor_gateway.config import VendorsConfig
from tierline_vendor_gateway.domain.vendors import Vendor
from tierline_vendor_gateway.entrypoints import workers
from tierline_vendor_gateway.service_layer import deliveries, registry
from tierline_vendor_gateway.service_layer.registry import Registered

from .conftest import CALLBACK_SECRET, WEBHOOK_SECRET, Gateway, whsec

pytestmark = pytest.mark.integration
SECOND_SECRET = "whsec_" + base64.b64encode(b"tierline-test-second-webhook-secret-32").decode()
UNLISTED_SECRET = whsec(b"u")
NOWHERE = "http://127.0.0.1:9/cases"  # acme's endpoint where a test delivers nothing


async def registered(gateway: Gateway, name: str = "acme") -> Registered:
    return await gateway.work(lambda uow, _d: registry.get(uow, name))


async def vendors(gateway: Gateway) -> dict[str, Registered]:
    return await gateway.work(lambda uow, _d: registry.load(uow))


async def change(gateway: Gateway, name: str = "acme", **fields: Any) -> Registered:
    """registry.update, as PATCH /v1/vendors/{name} calls it."""
    current = (await registered(gateway, name)).vendor
    return await gateway.work(registry.update, Vendor.model_validate({**current.model_dump(), **fields}))


def declare(gateway: Gateway, url: str, *extra: dict[str, Any], **acme: Any) -> VendorsConfig:
    """A vendors.yaml naming "acme" at ``url`` (with ``acme`` fields) and ``extra``; applied next step."""
    gateway.configure(url)
    acme_declared = {
        "name": "acme",
        "webhook_url": url,
        "secrets": [WEBHOOK_SECRET],
        "callback_secrets": [CALLBACK_SECRET],
        **acme,
    }
    gateway.config = VendorsConfig.model_validate(
        {
            "vendors": [acme_declared, *extra],
            "delivery": gateway.config.delivery.model_dump(mode="json"),
        }
    )
    return gateway.config


async def register_initech(gateway: Gateway, *, enabled: bool = True, **fields: Any) -> Vendor:
    """Vendor "initech" (with ``fields``), registered through the API's use case, not in vendors.yaml."""
    initech = Vendor.model_validate(
        {
            "name": "initech",
            "webhook_url": "https://hooks.initech.example/tierline",
            "secrets": [SECOND_SECRET],
            "callback_secrets": [CALLBACK_SECRET],
            **fields,
        }
    )
    await gateway.work(registry.create, initech, enabled=enabled)
    return initech


def only(headers: dict[str, str], signature: str) -> dict[str, str]:
    return {**headers, "webhook-signature": signature}


async def test_an_update_sends_the_next_attempt_to_the_new_url_signed_with_every_secret(
    gateway, faulty_vendor
) -> None:
    old, new = faulty_vendor((503, {}, {"error": "down"})), faulty_vendor((202, {}, {"reference": "ACME-7"}))
    gateway.configure(old.url)
    case_id = await gateway.open_case()
    async with gateway.client() as client:
        assert await gateway.step(client) == 1
        assert len(old.seen) == 1 and old.seen[0][2], "first attempt: old URL, old secret"
        assert old.seen[0][0]["webhook-signature"].count("v1,") == 1

        updated = await change(gateway, webhook_url=new.url, secrets=[SECOND_SECRET, WEBHOOK_SECRET])
        assert (str(updated.vendor.webhook_url), updated.vendor.secrets) == (
            new.url,
            [SECOND_SECRET, WEBHOOK_SECRET],
        )
        pending = await gateway.delivery(case_id)
        assert (pending.status, pending.url) == ("pending", old.url), "the URL last attempted"

        gateway.clock.advance(pending.next_attempt_at - gateway.clock.now())
        assert await gateway.step(client) == 1
    assert len(old.seen) == 1, "the old URL is not called again"
    [(headers, body, valid)] = new.seen
    assert valid, "the receiver still verifies with the old secret"
    assert headers["webhook-id"] == old.seen[0][0]["webhook-id"] and body == old.seen[0][1]
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert signatures[0] != signatures[1]
    for secret, signature in zip([SECOND_SECRET, WEBHOOK_SECRET], signatures, strict=True):
        Webhook(secret).verify(body, only(headers, signature))
    with pytest.raises(WebhookVerificationError):
        Webhook(SECOND_SECRET).verify(body, only(headers, signatures[1]))
    with pytest.raises(WebhookVerificationError):
        Webhook(UNLISTED_SECRET).verify(body, headers)

    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.attempts, delivery.url) == ("delivered", 2, new.url)
    assert (await gateway.case(case_id)).vendor_reference == "ACME-7"


async def test_the_vendors_schedule_decides_attempts_and_delays(gateway, faulty_vendor) -> None:
    receiver = faulty_vendor((500, {}, {"error": "boom"}))
    declare(gateway, receiver.url, schedule=["0s", "3s"])  # the gateway's own: 5 attempts, 1s backoff
    assert gateway.config.delivery.attempts == 5
    case_id = await gateway.open_case()
    t0 = gateway.clock.now()
    async with gateway.client() as client:
        assert await gateway.step(client) == 1
        first = await gateway.delivery(case_id)
        assert first.status == "pending"
        assert t0 + timedelta(seconds=3) <= first.next_attempt_at <= t0 + timedelta(seconds=3.3)
        gateway.clock.advance(timedelta(seconds=2.9))
        assert await gateway.step(client) == 0, "not due before the vendor's schedule says"
        gateway.clock.advance(first.next_attempt_at - gateway.clock.now())
        assert await gateway.step(client) == 1
        gateway.clock.advance(timedelta(hours=1))
        assert await gateway.step(client) == 0, "no third attempt"
    delivery = await gateway.delivery(case_id)
    assert (delivery.status, delivery.attempts, len(receiver.seen)) == ("dead", 2, 2)
    assert [a.attempt for a in await gateway.log(delivery.id)] == [1, 2]
    assert (await gateway.case(case_id)).status == "failed"


async def test_a_schedule_set_through_the_registry_applies_to_a_pending_delivery(
    gateway, faulty_vendor
) -> None:
    receiver = faulty_vendor((500, {}, {}))
    gateway.configure(receiver.url)
    case_id = await gateway.open_case()
    await change(gateway, schedule=["0s", "1m"])
    t0 = gateway.clock.now()
    async with gateway.client() as client:
        assert await gateway.step(client) == 1
    first = await gateway.delivery(case_id)
    assert t0 + timedelta(minutes=1) <= first.next_attempt_at <= t0 + timedelta(seconds=66)
    await gateway.settle()
    assert ((await gateway.delivery(case_id)).attempts, len(receiver.seen)) == (2, 2)


async def test_applying_the_file_again_keeps_api_vendors_and_restores_file_vendors(gateway) -> None:
    declare(gateway, NOWHERE)
    initech = await register_initech(gateway, schedule=["0s", "5s"])
    await change(gateway, webhook_url="https://elsewhere.example/")
    for _ in range(2):  # two starts
        declare(gateway, NOWHERE)
        held = await vendors(gateway)
        assert {n: r.managed_by for n, r in held.items()} == {"acme": "config", "initech": "api"}
        assert held["initech"].vendor == initech and held["initech"].is_enabled
        assert str(held["acme"].vendor.webhook_url) == NOWHERE, "the file's values come back"


async def test_enabled_false_in_the_file_disables_at_every_start(gateway) -> None:
    globex = {
        "name": "globex",
        "webhook_url": "http://127.0.0.1:9/globex",
        "secrets": [SECOND_SECRET],
        "callback_secrets": [CALLBACK_SECRET],
    }
    declare(gateway, NOWHERE, {**globex, "enabled": False})
    off = await registered(gateway, "globex")
    assert (off.is_enabled, off.disabled_reason) == (False, "disabled in vendors.yaml")
    assert (await registered(gateway, "acme")).is_enabled, "only the vendor the file disables"

    await gateway.work(registry.switch, "globex", enabled=True)
    assert (await registered(gateway, "globex")).is_enabled
    declare(gateway, NOWHERE, {**globex, "enabled": False})
    assert not (await registered(gateway, "globex")).is_enabled, "disabled again at the next start"


async def test_an_endpoint_gone_410_stays_disabled_when_the_file_says_enabled(gateway, faulty_vendor) -> None:
    receiver = faulty_vendor((410, {}, {"error": "gone"}))
    declare(gateway, receiver.url, enabled=True)
    case_id = await gateway.open_case()
    await gateway.settle()
    assert (await gateway.delivery(case_id)).status == "dead"
    gone = await registered(gateway)
    assert not gone.is_enabled and "410" in (gone.disabled_reason or "")

    declare(gateway, receiver.url, enabled=True)  # the next start
    again = await registered(gateway)
    assert (again.is_enabled, again.disabled_reason) == (False, gone.disabled_reason)
    later = await gateway.open_case()
    assert (await gateway.delivery(later)).status == "dead", "nothing is sent to it"
    assert len(receiver.seen) == 1


async def test_every_change_is_announced_without_secrets_or_endpoint(gateway, faulty_vendor) -> None:
    receiver = faulty_vendor((410, {}, {}))
    declare(gateway, receiver.url, categories=["network"], contract={"response": "1h"})
    await gateway.run(lambda _s, _d: asyncio.sleep(0))  # the file is applied: its vendor announced
    [start] = await gateway.events(vendors=True)
    assert (start.vendor, start.categories, start.is_enabled) == ("acme", ["network"], True)
    assert start.contract.response_seconds == 3600 and start.contract.resolution_seconds is None

    await change(gateway, products=["edge-router"])
    await gateway.work(registry.switch, "acme", enabled=False, reason="audit")
    await gateway.work(registry.switch, "acme", enabled=True)
    await gateway.open_case()
    await gateway.settle()  # 410 Gone
    announced = await gateway.events(vendors=True)
    assert [(e.products, e.is_enabled) for e in announced[1:]] == [
        (["edge-router"], True),
        (["edge-router"], False),
        (["edge-router"], True),
        (["edge-router"], False),
    ]
    assert announced == sorted(announced, key=lambda e: e.changed_at)
    for event in announced:
        text = event.model_dump_json()
        assert WEBHOOK_SECRET not in text and CALLBACK_SECRET not in text and receiver.url not in text


async def test_several_410s_in_one_batch_disable_and_announce_the_vendor_once(gateway, faulty_vendor) -> None:
    receiver = faulty_vendor((410, {}, {"error": "gone"}))
    gateway.configure(receiver.url)
    case_ids = [await gateway.open_case() for _ in range(3)]
    rt = SimpleNamespace(
        state={"deps": gateway.deps}, sessions=gateway.sessions, unit_of_work=gateway._unit_of_work
    )
    async with gateway.sessions() as s, s.begin():
        claimed = await deliveries.claim_due_deliveries(
            gateway.deps.unit_of_work(s), gateway.deps, limit=50, lease=timedelta(seconds=30)
        )
    assert len(claimed) == 3
    async with gateway.client() as client:
        await workers._attempt_batch(rt, client, claimed)  # one batch, recorded in one transaction

    assert len(receiver.seen) == 3
    assert {(await gateway.delivery(c)).status for c in case_ids} == {"dead"}
    assert {(await gateway.case(c)).status for c in case_ids} == {"failed"}
    gone = await registered(gateway)
    assert (gone.is_enabled, gone.disabled_reason) == (False, "HTTP 410 Gone from its endpoint")
    announced = await gateway.events(vendors=True)
    assert [(e.is_enabled, e.revision) for e in announced] == [(True, 1), (False, 2)], "start, then once"
    events = await gateway.events()
    for case_id in case_ids:
        mine = [type(e).__name__ for e in events if e.case_id == case_id]
        assert mine == ["VendorEndpointDisabled", "VendorDeliveryFailed"], (case_id, mine)
    assert {e.url for e in events if isinstance(e, VendorEndpointDisabled)} == {receiver.url}


async def test_every_announcement_carries_a_growing_revision_per_vendor(gateway) -> None:
    declare(gateway, NOWHERE)
    await register_initech(gateway)  # after the file's: acme 1, initech 1
    await change(gateway, products=["edge-router"])  # acme 2
    await gateway.work(registry.switch, "initech", enabled=False, reason="audit")  # initech 2
    await gateway.work(registry.switch, "acme", enabled=False)  # acme 3
    announced = await gateway.events(vendors=True)
    assert [(e.vendor, e.revision, e.is_enabled) for e in announced] == [
        ("acme", 1, True),
        ("initech", 1, True),
        ("acme", 2, True),
        ("initech", 2, False),
        ("acme", 3, False),
    ]
    assert len({e.changed_at for e in announced}) == 1, "the clock did not move: only the revision orders"


async def test_a_start_announces_every_registered_vendor_the_apis_too(gateway) -> None:
    declare(gateway, NOWHERE)
    await register_initech(gateway, enabled=False, categories=["storage"])
    before = len(await gateway.events(vendors=True))

    declare(gateway, NOWHERE)  # the next start
    await gateway.run(lambda _s, _d: asyncio.sleep(0))
    at_start = (await gateway.events(vendors=True))[before:]
    assert [(e.vendor, e.revision, e.is_enabled, e.categories) for e in at_start] == [
        ("acme", 2, True, []),
        ("initech", 2, False, ["storage"]),
    ]


async def test_concurrent_announcements_of_a_vendor_get_distinct_revisions_the_last_one_current(
    gateway,
) -> None:
    declare(gateway, NOWHERE)
    await gateway.run(lambda _s, _d: asyncio.sleep(0))  # the start: revision 1
    await asyncio.gather(
        *(gateway.work(registry.switch, "acme", enabled=bool(i % 2), reason="flap") for i in range(8))
    )
    announced = await gateway.events(vendors=True)
    assert sorted(e.revision for e in announced) == list(range(1, 10))
    newest = max(announced, key=lambda e: e.revision)
    assert newest.is_enabled == (await registered(gateway)).is_enabled, "the highest revision is the truth"
