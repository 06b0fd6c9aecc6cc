"""The SLA view's time left, read from the API of a running intake on a clock the test moves.

The SLA monitor's events go through Kafka to intake's consumer, as in production; once the
timeline shows them, every read is deterministic: the figures follow the injected clock only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.clock import FixedClock
from tierline_shared.events import (
    Envelope,
    Event,
    IncidentEscalated,
    SlaBreached,
    SlaClockPaused,
    SlaClockResumed,
    SlaClockStarted,
    SlaMet,
)
from tierline_shared.messaging import cloudevents
from tierline_shared.messaging.kafka import new_producer
from tierline_shared.testing import eventually

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SLA_MONITOR = "/tierline/sla-monitor"
ROUTER = "/tierline/router"
INCIDENT = {
    "title": "VPN down",
    "service": "vpn",
    "category": "network",
    "priority": "P1",
    "channel": "web",
    "reporter": "alice@example.com",
}


@dataclass
class Intake:
    """A running intake on its own topics and a fixed clock, and the way to feed it events."""

    client: TestClient
    prefix: str
    bootstrap_servers: str
    clock: FixedClock

    def create(self) -> uuid.UUID:
        response = self.client.post("/v1/incidents", json=INCIDENT)
        assert response.status_code == 201, response.text
        assert datetime.fromisoformat(response.json()["created_at"]) == self.clock.now()
        return uuid.UUID(response.json()["id"])

    async def deliver(self, iid: uuid.UUID, events: list[Event], source: str = SLA_MONITOR) -> None:
        """Publish ``events`` and wait until the incident's timeline shows every one of them."""
        before = len(self.timeline(iid))
        producer = new_producer(self.bootstrap_servers, f"intake-sla-countdown-{uuid.uuid4().hex[:6]}")
        await producer.start()
        try:
            for event in events:
                record = cloudevents.encode(Envelope(data=event, source=source))
                await producer.send_and_wait(
                    self.prefix + record.topic, value=record.value, key=record.key, headers=record.headers
                )
        finally:
            await producer.stop()

        def applied() -> bool:
            return len(self.timeline(iid)) == before + len(events)

        await eventually(applied, timeout=30, what=f"{len(events)} events on the timeline")

    def timeline(self, iid: uuid.UUID) -> list[dict[str, Any]]:
        response = self.client.get(f"/v1/incidents/{iid}/timeline")
        assert response.status_code == 200, response.text
        return response.json()

    def sla(self, iid: uuid.UUID) -> dict[str, Any]:
        response = self.client.get(f"/v1/incidents/{iid}")
        assert response.status_code == 200, response.text
        return response.json()["sla"]

    def left(self, iid: uuid.UUID) -> dict[str, float | None]:
        return {clock: view["remaining_seconds"] for clock, view in self.sla(iid).items()}


@pytest.fixture
def intake(infra, make_client: Callable[..., TestClient]) -> Intake:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    clock = FixedClock(T0)
    # unthrottled: the fixed clock never ends the rate limit's minute, and deliver() polls until applied
    client = make_client(clock=clock, kafka_topic_prefix=prefix, rate_limit_per_minute=0)
    return Intake(client, prefix, infra.bootstrap_servers, clock)


def _started(iid: uuid.UUID, clock: str, due: timedelta, tier: str | None = None) -> SlaClockStarted:
    return SlaClockStarted(incident_id=iid, clock=clock, tier=tier, due_at=T0 + due, started_at=T0)


async def test_a_running_clock_counts_down_with_the_clock_and_a_breach_shows_0(intake: Intake) -> None:
    iid = intake.create()
    await intake.deliver(
        iid,
        [_started(iid, "response", timedelta(minutes=15)), _started(iid, "resolution", timedelta(hours=4))],
    )
    assert intake.left(iid) == {"response": 900.0, "resolution": 14_400.0}

    intake.clock.advance(timedelta(minutes=10, seconds=30))
    assert intake.left(iid) == {"response": 270.0, "resolution": 13_770.0}
    # a write answers with the incident as it is afterwards, counted on the same clock
    acknowledged = intake.client.post(f"/v1/incidents/{iid}/acknowledge")
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["sla"]["resolution"]["remaining_seconds"] == 13_770.0

    intake.clock.advance(timedelta(minutes=20))  # past the response due time, no breach announced yet
    response = intake.sla(iid)["response"]
    assert (response["state"], response["remaining_seconds"], response["breached"]) == ("running", 0.0, False)

    breached_at = T0 + timedelta(minutes=15, seconds=1)
    breach = SlaBreached(
        incident_id=iid, clock="response", due_at=T0 + timedelta(minutes=15), breached_at=breached_at
    )
    await intake.deliver(iid, [breach])
    response = intake.sla(iid)["response"]
    assert (response["state"], response["remaining_seconds"], response["breached"]) == ("breached", 0.0, True)
    assert datetime.fromisoformat(response["breached_at"]) == breached_at
    intake.clock.advance(timedelta(days=1))
    assert intake.left(iid) == {"response": 0.0, "resolution": 0.0}


async def test_paused_met_and_cancelled_clocks_keep_their_figure_while_time_passes(intake: Intake) -> None:
    iid = intake.create()
    tier_due = timedelta(minutes=30)
    await intake.deliver(
        iid,
        [
            _started(iid, "resolution", timedelta(hours=4)),
            SlaClockPaused(
                incident_id=iid,
                clock="resolution",
                reason="awaiting_customer",
                elapsed_seconds=3_000,
                remaining_seconds=11_400,
                at=T0 + timedelta(minutes=50),
            ),
            _started(iid, "tier", tier_due, tier="L1"),
            # the poller fired at the due time; the stop (at 25 min) reached the monitor later: met
            SlaBreached(
                incident_id=iid, clock="tier", tier="L1", due_at=T0 + tier_due, breached_at=T0 + tier_due
            ),
            SlaMet(
                incident_id=iid,
                clock="tier",
                tier="L1",
                due_at=T0 + tier_due,
                met_at=T0 + timedelta(minutes=25),
            ),
        ],
    )
    await intake.deliver(
        iid,
        [
            IncidentEscalated(
                incident_id=iid,
                from_tier="L3",
                to_tier="L4",
                reason="sla_breach",
                vendor="acme",
                escalated_at=T0 + timedelta(hours=1),
            )
        ],
        source=ROUTER,
    )
    await intake.deliver(iid, [_started(iid, "vendor_response", timedelta(hours=2))])
    await intake.deliver(
        iid,
        [
            IncidentEscalated(
                incident_id=iid,
                from_tier="L4",
                to_tier="L3",
                direction="down",
                reason="vendor_rejected",
                escalated_at=T0 + timedelta(hours=1, minutes=5),
            )
        ],
        source=ROUTER,
    )
    sla = intake.sla(iid)
    assert (sla["resolution"]["state"], sla["resolution"]["due_at"]) == ("paused", None)
    assert (sla["tier"]["state"], sla["tier"]["breached"], sla["tier"]["breached_at"]) == ("met", False, None)
    assert sla["vendor_response"]["state"] == "cancelled"
    expected = {"resolution": 11_400.0, "tier": 300.0, "vendor_response": None}
    assert intake.left(iid) == expected
    intake.clock.advance(timedelta(hours=6))
    assert intake.left(iid) == expected

    # resumed: it runs again towards its new due time, counted from the clock
    resumed_due = intake.clock.now() + timedelta(seconds=11_400)
    await intake.deliver(
        iid,
        [SlaClockResumed(incident_id=iid, clock="resolution", due_at=resumed_due, at=intake.clock.now())],
    )
    intake.clock.advance(timedelta(seconds=400))
    resolution = intake.sla(iid)["resolution"]
    assert (resolution["state"], resolution["remaining_seconds"]) == ("running", 11_000.0)
    assert datetime.fromisoformat(resolution["due_at"]) == resumed_due
