"""Forty messages through a receiver that misbehaves every way it can, and goes away for a while.

Each request gets a seeded random fault: 5xx, 429 or 503 with Retry-After, an answer that stalls
past the timeout, a body dribbled slowly (but in time), a connection dropped without an answer,
or success; between two rounds the port is closed (connection refused). Whatever happens, every
message must end delivered or dead-lettered, under one webhook-id, with identical bytes on every
attempt, each attempt signed so an independent verifier accepts it, and each in the log.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from standardwebhooks import Webhook

from tierline_launcher.procs import free_port
from tierline_shared.events import VendorCaseOpened, VendorDeliveryFailed

from .conftest import WEBHOOK_SECRET, Gateway

pytestmark = pytest.mark.integration
FAULTS = ["500", "502", "429", "503", "stall", "dribble", "drop", "ok", "ok"]
TIMEOUT_SECONDS = 0.4


@dataclass
class Chaos:
    rng: random.Random = field(default_factory=lambda: random.Random(20261123))
    port: int = field(default_factory=free_port)
    seen: list[tuple[str, bytes, bool, str]] = field(default_factory=list)  # id, body, verified, fault

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            Webhook(WEBHOOK_SECRET).verify(body, dict(request.headers))
            verified = True
        except Exception:  # noqa: BLE001 - recorded and asserted
            verified = False
        fault = self.rng.choice(FAULTS)
        self.seen.append((request.headers["webhook-id"], body, verified, fault))
        if fault in ("500", "502"):
            return web.json_response({"error": fault}, status=int(fault))
        if fault in ("429", "503"):
            return web.json_response({}, status=int(fault), headers={"retry-after": "1"})
        if fault == "stall":
            await asyncio.sleep(TIMEOUT_SECONDS * 5)
        if fault == "drop":
            assert request.transport is not None
            request.transport.close()  # no answer at all
            return web.Response()
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        for part in (b'{"reference": ', b'"R-', b'1"}'):
            await response.write(part)
            if fault == "dribble":
                await asyncio.sleep(TIMEOUT_SECONDS / 10)
        await response.write_eof()
        return response


@pytest.fixture
async def chaos() -> AsyncIterator[tuple[Chaos, web.AppRunner]]:
    receiver = Chaos()
    app = web.Application()
    app.router.add_post("/cases", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    yield receiver, runner
    await runner.cleanup()


async def test_every_message_ends_delivered_or_dead_under_one_id(
    gateway: Gateway, chaos: tuple[Chaos, web.AppRunner]
) -> None:
    receiver, runner = chaos
    url = f"http://127.0.0.1:{receiver.port}/cases"
    gateway.configure(url, schedule=["0s"] * 6, timeout=f"{TIMEOUT_SECONDS}s")
    case_ids = {await gateway.open_case() for _ in range(40)}

    async with gateway.client() as client:
        await gateway.step(client)
        await gateway.step(client)
    for site in list(runner.sites):
        await site.stop()  # the vendor goes away: connection refused
    async with gateway.client() as client:  # no pooled connection to reuse
        refused_round = await gateway.step(client)
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    await gateway.settle(rounds=40)

    deliveries = {d.id: d for d in await gateway.deliveries()}
    assert {d.case_id for d in deliveries.values()} == case_ids, "one message per case, none lost"
    assert {d.status for d in deliveries.values()} <= {"delivered", "dead"}
    assert refused_round > 0, "some attempts met a closed port"

    attempts: dict[str, list[tuple[bytes, bool, str]]] = defaultdict(list)
    for webhook_id, body, verified, fault in receiver.seen:
        attempts[webhook_id].append((body, verified, fault))
    assert set(attempts) <= set(deliveries), "every request carried a known webhook-id"
    for webhook_id, tries in attempts.items():
        assert all(verified for _, verified, _ in tries), "each attempt is signed verifiably"
        assert len({body for body, _, _ in tries}) == 1, "each attempt carries identical bytes"
        case_id = json.loads(tries[0][0])["data"]["case_id"]
        assert case_id == str(deliveries[webhook_id].case_id), "one webhook-id per case"
    logs = {d: await gateway.log(d) for d in deliveries}
    errors = [a.error or "" for log in logs.values() for a in log]
    assert any(e.startswith("cannot connect") for e in errors), "the closed port was met"
    assert any(e.startswith("timed out") for e in errors), "stalled answers timed out"
    faults = {fault for _, _, _, fault in receiver.seen}
    assert {"stall", "drop", "dribble", "429", "500"} <= faults, "the run met the faults it is about"

    for delivery in deliveries.values():
        log = logs[delivery.id]
        assert [a.attempt for a in log] == list(range(1, delivery.attempts + 1))
        if delivery.status == "delivered":
            assert log[-1].status_code == 200
        else:
            assert delivery.attempts == 6 and all(a.status_code != 200 for a in log)
    events = await gateway.events()
    delivered = {d.case_id for d in deliveries.values() if d.status == "delivered"}
    assert {e.case_id for e in events if isinstance(e, VendorCaseOpened)} == delivered
    assert {e.case_id for e in events if isinstance(e, VendorDeliveryFailed)} == case_ids - delivered
    assert len(events) == len(case_ids), "one outcome event per case"
