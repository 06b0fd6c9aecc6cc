"""Webhook delivery against a receiver that injects faults, on the real PostgreSQL."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from standardwebhooks import Webhook

from tierline_launcher.procs import free_port
from tierline_shared import db, migrations
from tierline_shared.clock import FixedClock
from tierline_shared.messaging.outbox import Outbox
from tierline_shared.testing import ServerThread
from tierline_vendor_gateway.adapters import sender, webhooks
from tierline_vendor_gateway.adapters.orm import CaseRow, DeliveryRow, outbox
from tierline_vendor_gateway.config import VendorsConfig
from tierline_vendor_gateway.service_layer import deliveries, registry
from tierline_vendor_gateway.service_layer.deps import GatewayDeps

from .conftest import open_l4_case

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class FaultyVendor:
    """Answers each delivery with the next scripted (status, headers, body)."""

    script: list[tuple[int, dict[str, str], dict]]
    seen: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/cases")
        async def case(request: Request) -> JSONResponse:
            body = await request.body()
            try:
                Webhook(SECRET).verify(body, dict(request.headers))
                valid = True
            except Exception:  # noqa: BLE001 - recorded, asserted by the test
                valid = False
            self.seen.append((dict(request.headers), body, valid))
            status, headers, answer = self.script[min(len(self.seen), len(self.script)) - 1]
            return JSONResponse(answer, status_code=status, headers=headers)

        return app


@pytest.fixture
async def sessions(new_database) -> AsyncIterator:
    url = new_database("vendor_gateway")
    migrations.upgrade(MIGRATIONS, url)
    engine = db.create_engine(url)
    yield db.session_factory(engine)
    await engine.dispose()


async def _deps(sessions, url: str, clock: FixedClock, max_attempts: int = 5) -> GatewayDeps:
    """Deps for one vendor "acme" at ``url``, registered as the service does at start."""
    vendors = VendorsConfig.model_validate(
        {
            "vendors": [
                {"name": "acme", "webhook_url": url, "secrets": [SECRET], "callback_secrets": [SECRET]}
            ],
            "delivery": {
                "max_attempts": max_attempts,
                "initial_backoff": "1s",
                "max_backoff": "1m",
                "timeout": "2s",
                "allow_hosts": ["127.0.0.1"],
            },
        }
    )
    deps = GatewayDeps(
        outbox=Outbox(outbox, "/tierline/vendor-gateway", clock),
        clock=clock,
        delivery=vendors.delivery,
        public_url="http://127.0.0.1:8004",
    )
    async with sessions() as s, s.begin():
        await registry.apply_config(deps.unit_of_work(s), deps, vendors)
    return deps


async def _open_case(sessions, deps: GatewayDeps) -> uuid.UUID:
    async with sessions() as s, s.begin():
        return await open_l4_case(s, deps)


async def _deliver_until_settled(sessions, deps: GatewayDeps, clock: FixedClock, rounds: int = 20) -> str:
    """Run the worker's steps; between rounds, time jumps past any backoff."""
    async with sender.client(deps.delivery.allow_hosts) as client:
        for _ in range(rounds):
            async with sessions() as s, s.begin():
                claimed = await deliveries.claim_due_deliveries(
                    deps.unit_of_work(s), deps, limit=10, lease=timedelta(seconds=30)
                )
            for c in claimed:
                headers = webhooks.signed_headers(SECRET, c.id, datetime.now(UTC), c.body)
                result = await sender.post(client, c.url, c.body, headers, timeout=2)
                async with sessions() as s, s.begin():
                    status = await deliveries.record_attempt(deps.unit_of_work(s), deps, c, result)
                if status != "pending":
                    return status
            clock.advance(timedelta(minutes=2))
    return "pending"


async def _events(sessions) -> list[str]:
    """The case events in the outbox (not the vendor.changed announcements), oldest first."""
    async with sessions() as s:
        types = await s.scalars(select(outbox.c.event_type).order_by(outbox.c.seq))
        return [t for t in types if t != "tierline.vendor.changed.v1"]


async def test_retries_until_delivered_with_one_webhook_id(sessions) -> None:
    port = free_port()
    vendor = FaultyVendor(
        [(500, {}, {}), (429, {"retry-after": "5"}, {}), (202, {}, {"reference": "ACME-1"})]
    )
    clock = FixedClock(datetime.now(UTC))
    deps = await _deps(sessions, f"http://127.0.0.1:{port}/cases", clock)
    with ServerThread(vendor.app(), port):
        case_id = await _open_case(sessions, deps)
        assert await _deliver_until_settled(sessions, deps, clock) == "delivered"
    assert len(vendor.seen) == 3
    assert {h["webhook-id"] for h, _, _ in vendor.seen} == {vendor.seen[0][0]["webhook-id"]}
    assert all(valid for _, _, valid in vendor.seen)
    assert len({body for _, body, _ in vendor.seen}) == 1, "every attempt must carry identical bytes"
    payload = json.loads(vendor.seen[0][1])
    assert payload["data"]["case_id"] == str(case_id)
    assert payload["data"]["incident"]["title"] == "Switch down"
    async with sessions() as s:
        case = await s.get(CaseRow, case_id)
        delivery = await s.scalar(select(DeliveryRow).where(DeliveryRow.case_id == case_id))
    assert (case.status, case.vendor_reference) == ("open", "ACME-1")
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert await _events(sessions) == ["tierline.vendor.case_opened.v1"]


async def test_gone_endpoint_is_dead_lettered_at_once(sessions) -> None:
    port = free_port()
    vendor = FaultyVendor([(410, {}, {})])
    clock = FixedClock(datetime.now(UTC))
    deps = await _deps(sessions, f"http://127.0.0.1:{port}/cases", clock)
    with ServerThread(vendor.app(), port):
        await _open_case(sessions, deps)
        assert await _deliver_until_settled(sessions, deps, clock) == "dead"
    assert len(vendor.seen) == 1
    assert await _events(sessions) == [
        "tierline.vendor.endpoint_disabled.v1",
        "tierline.vendor.delivery_failed.v1",
    ]
    async with sessions() as s:
        assert not (
            await registry.get(deps.unit_of_work(s), "acme")
        ).is_enabled  # 410: the endpoint is off until re-enabled
    second = await _open_case(sessions, deps)  # the next case for it fails at once, without a call
    async with sessions() as s:
        assert (await s.get(CaseRow, second)).status == "failed"
    assert len(vendor.seen) == 1


async def test_unreachable_vendor_is_retried_then_dead_lettered(sessions) -> None:
    clock = FixedClock(datetime.now(UTC))
    deps = await _deps(sessions, f"http://127.0.0.1:{free_port()}/cases", clock, max_attempts=3)
    case_id = await _open_case(sessions, deps)
    assert await _deliver_until_settled(sessions, deps, clock) == "dead"
    async with sessions() as s:
        delivery = await s.scalar(select(DeliveryRow).where(DeliveryRow.case_id == case_id))
        case = await s.get(CaseRow, case_id)
    assert delivery.attempts == 3
    assert "cannot connect" in (delivery.last_error or "")
    assert case.status == "failed"
    assert await _events(sessions) == ["tierline.vendor.delivery_failed.v1"]


async def test_a_claimed_delivery_is_invisible_to_other_workers(sessions) -> None:
    clock = FixedClock(datetime.now(UTC))
    deps = await _deps(sessions, f"http://127.0.0.1:{free_port()}/cases", clock)
    await _open_case(sessions, deps)
    async with sessions() as s, s.begin():
        first = await deliveries.claim_due_deliveries(
            deps.unit_of_work(s), deps, limit=10, lease=timedelta(seconds=30)
        )
    async with sessions() as s, s.begin():
        second = await deliveries.claim_due_deliveries(
            deps.unit_of_work(s), deps, limit=10, lease=timedelta(seconds=30)
        )
    assert len(first) == 1 and second == []
    clock.advance(timedelta(seconds=31))  # the lease ran out (the worker died): it is claimable again
    async with sessions() as s, s.begin():
        third = await deliveries.claim_due_deliveries(
            deps.unit_of_work(s), deps, limit=10, lease=timedelta(seconds=30)
        )
    assert [c.id for c in third] == [first[0].id] and third[0].attempt == 2
