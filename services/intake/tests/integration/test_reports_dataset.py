"""The KPI reports over a dataset built by hand through the real API and the router's and SLA
monitor's events on Kafka, on a fixed clock; every expected figure is worked out below.

Three incidents in one service, created a minute apart from T0 (a Monday, 09:00 UTC):

- A, by phone: bob (L1) takes it at +1 min, acknowledges at +2, resolves at +10 with a knowledge
  article, CSAT 5. Resolved within the 15-minute first-contact window for phone: FLR and FCR.
  SLA: response met, resolution met.
- B, by email, created at +1: bob (L1) at +2, acknowledges at +5, escalates to carol (L2) at +30;
  on hold from +40 to +50; resolved at +90, CSAT 2. SLA: response met, resolution breached.
- C, by web, created at +2: waits in the L1 queue; still open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.clock import FixedClock
from tierline_shared.events import Event, IncidentAssigned, IncidentEscalated, SlaBreached, SlaMet
from tierline_shared.testing import eventually, publish_events

from .conftest import vpn_incident

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)
ROUTER, SLA = "/tierline/router", "/tierline/sla-monitor"


def _assigned(iid: uuid.UUID, assignee: str | None, at: datetime) -> IncidentAssigned:
    return IncidentAssigned(
        incident_id=iid,
        tier="L1",
        queue="service-desk",
        assignee=assignee,
        tier_entered_at=at,
        assigned_at=at,
    )


def _met(iid: uuid.UUID, clock: str, at: datetime, elapsed: float) -> SlaMet:
    return SlaMet(incident_id=iid, clock=clock, due_at=at + 4 * 60 * M, met_at=at, elapsed_seconds=elapsed)


async def _dataset(make_client: Callable[..., TestClient], infra: Any) -> tuple[TestClient, FixedClock]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    clock = FixedClock(T0)
    client = make_client(clock=clock, kafka_topic_prefix=prefix, rate_limit_per_minute=0)

    def create(channel: str) -> uuid.UUID:
        body = client.post("/v1/incidents", json=vpn_incident(channel=channel, priority="P3", title=channel))
        assert body.status_code == 201, body.text
        clock.advance(M)
        return uuid.UUID(body.json()["id"])

    def act(iid: uuid.UUID, action: str, at: datetime, body: dict[str, Any] | None = None) -> None:
        clock.advance(at - clock.now())
        answer = client.post(f"/v1/incidents/{iid}/{action}", json=body or {})
        assert answer.status_code < 300, answer.text

    a, b, c = create("phone"), create("email"), create("web")
    events: list[Event] = [
        _assigned(a, "bob", T0 + M),
        _assigned(b, "bob", T0 + 2 * M),
        _assigned(c, None, T0 + 3 * M),
        IncidentEscalated(
            incident_id=b,
            from_tier="L1",
            to_tier="L2",
            reason="manual",
            queue="network-l2",
            assignee="carol",
            escalated_at=T0 + 30 * M,
        ),
    ]
    await publish_events(infra.bootstrap_servers, prefix, ROUTER, events)
    await eventually(
        lambda: client.get(f"/v1/incidents/{b}").json()["assignee"] == "carol" or None,
        timeout=30,
        what="the router's events projected",
    )
    act(a, "acknowledge", T0 + 2 * M)
    act(b, "acknowledge", T0 + 5 * M)
    act(a, "resolve", T0 + 10 * M, {"resolution_code": "fixed", "knowledge_article": "KB-1"})
    act(a, "csat", T0 + 11 * M, {"score": 5})
    act(b, "hold", T0 + 40 * M, {"reason": "awaiting_customer"})
    act(b, "resume", T0 + 50 * M)
    act(b, "resolve", T0 + 90 * M, {"resolution_code": "fixed"})
    act(b, "csat", T0 + 91 * M, {"score": 2})
    outcomes: list[Event] = [
        _met(a, "response", T0 + 2 * M, 60.0),
        _met(a, "resolution", T0 + 10 * M, 600.0),
        _met(b, "response", T0 + 5 * M, 240.0),
        SlaBreached(incident_id=b, clock="resolution", due_at=T0 + 60 * M, breached_at=T0 + 60 * M),
    ]
    await publish_events(infra.bootstrap_servers, prefix, SLA, outcomes)
    await eventually(
        lambda: (
            len(
                [
                    line
                    for line in client.get(f"/v1/incidents/{b}/timeline").json()
                    if line["source"] != "intake"
                ]
            )
            == 4
            or None
        ),
        timeout=30,
        what="the SLA monitor's events projected",
    )
    clock.advance(T0 + 120 * M - clock.now())
    return client, clock


async def test_every_kpi_of_the_hand_built_dataset(make_client, infra) -> None:
    client, _ = await _dataset(make_client, infra)
    period = {"from": (T0 - 60 * M).isoformat(), "to": (T0 + 24 * 60 * M).isoformat()}

    report = client.get("/v1/reports/kpis", params=period)
    assert report.status_code == 200, report.text
    total = report.json()["total"]
    assert (total["created"], total["resolved"], total["reopened"]) == (3, 2, 0)
    assert (total["flr"], total["fcr"]) == (0.5, 0.5)
    assert total["escalation_rate"] == {
        "L1": pytest.approx(1 / 3),
        "L2": 0.0,
        "L3": None,
        "total": pytest.approx(1 / 3),
    }
    # acknowledged after 2 and 4 minutes; resolved after 10 and 89
    assert (total["mtta_seconds"], total["mtta_p50_seconds"], total["mtta_p90_seconds"]) == pytest.approx(
        (180.0, 180.0, 228.0)
    )
    assert (total["mttr_seconds"], total["mttr_p50_seconds"], total["mttr_p90_seconds"]) == pytest.approx(
        (2970.0, 2970.0, 4866.0)
    )
    # bob held A 9 minutes and B 28; carol held B 60 minutes, 10 of them on hold
    assert total["aht_seconds"] == pytest.approx((540 + 1680 + 3000) / 3)
    assert total["reopen_rate"] == 0.0
    assert total["csat"] == {"responses": 2, "average": 3.5, "good_ratio": 0.5}
    assert total["knowledge_link_rate"] == 0.5
    assert total["sla"] == {"response_met_ratio": 1.0, "resolution_met_ratio": 0.5, "breached": 1}

    by_tier = client.get("/v1/reports/kpis", params={**period, "group_by": "tier"}).json()["groups"]
    tiers = {group["key"]: group for group in by_tier}
    assert {key: group["created"] for key, group in tiers.items()} == {"L1": 2, "L2": 1}
    assert tiers["L1"]["fcr"] == 1.0 and tiers["L2"]["fcr"] == 0.0
    assert tiers["L1"]["aht_seconds"] == pytest.approx((540 + 1680) / 2)  # stints at L1: bob's two
    assert tiers["L2"]["aht_seconds"] == pytest.approx(3000)

    by_agent = client.get("/v1/reports/kpis", params={**period, "group_by": "agent"}).json()["groups"]
    agents = {group["key"]: group["aht_seconds"] for group in by_agent}
    assert agents["bob"] == pytest.approx((540 + 1680) / 2) and agents["carol"] == pytest.approx(3000)

    backlog = client.get("/v1/reports/backlog")
    assert backlog.status_code == 200, backlog.text
    now = backlog.json()
    assert now["open"] == 1
    assert now["buckets"] == {"lt_10d": 1, "10d_30d": 0, "gt_30d": 0}
    assert now["oldest_age_seconds"] == pytest.approx((120 - 2) * 60)
