"""One incident from HTTP intake to an L4 vendor webhook and back, across all four services."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import ADMIN_KEY, System
from tierline_shared.testing import TopicReader, eventually

pytestmark = pytest.mark.e2e

INCIDENT = {
    "title": "Core VPN concentrator dropping tunnels",
    "description": "All remote staff disconnected every few minutes.",
    "service": "vpn",
    "category": "network",
    "impact": "high",
    "urgency": "high",
    "channel": "monitoring",
    "reporter": "nagios",
}


def _signed_callback(secret: str, body: dict, message_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, raw.decode()),
        "content-type": "application/json",
    }
    return raw, headers


async def test_incident_escalates_to_vendor_and_vendor_resolution_closes_it(infra, system: System) -> None:
    intake = system.url("intake")
    async with (
        TopicReader(infra.bootstrap_servers, system.topics()) as reader,
        httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http,
    ):
        created = await http.post(f"{intake}/v1/incidents", json=INCIDENT)
        assert created.status_code == 201, created.text
        incident_id = created.json()["id"]
        url = f"{intake}/v1/incidents/{incident_id}"

        async def view() -> dict:
            return (await http.get(url)).json()

        at_l1 = await eventually(
            lambda: _when(view, lambda v: v["tier"] == "L1" and v["assignee"] and "resolution" in v["sla"]),
            timeout=15,
            what="L1 assignment and SLA clocks",
        )
        assert at_l1["queue"] == "service-desk"
        assert at_l1["sla"]["resolution"]["state"] == "running"

        at_l4 = await eventually(
            lambda: _when(view, lambda v: v["tier"] == "L4"), timeout=40, what="escalation to L4"
        )
        assert at_l4["vendor"] == "acme-networks"

        deliveries = await eventually(lambda: system.vendor.received, timeout=20, what="webhook delivery")
        delivery = deliveries[0]
        assert delivery.signature_valid
        assert delivery.body["type"] == "case.opened"
        assert delivery.body["data"]["incident"]["id"] == incident_id
        assert delivery.body["data"]["incident"]["title"] == INCIDENT["title"]
        case_id = delivery.body["data"]["case_id"]
        # the brief carries the tier history and the latest timeline, and links back to us
        brief = delivery.body["data"]
        assert [step["tier"] for step in brief["incident"]["tier_history"]] == ["L1", "L2", "L3", "L4"]
        assert brief["incident"]["timeline"][-1]["kind"] == "escalated"
        assert brief["links"]["case"].endswith(f"/v1/cases/{case_id}")
        assert brief["escalation"]["contract"] == {"response_seconds": 3600.0, "resolution_seconds": 28800.0}

        opened = await eventually(
            lambda: _when(view, lambda v: v["vendor_reference"] == "ACME-4711"),
            timeout=15,
            what="case opened",
        )
        assert opened["status"] == "open"

        callback_url = f"{system.url('vendor-gateway')}/v1/vendors/{system.vendor_name}/callbacks"
        body = {"case_id": case_id, "action": "resolved", "resolution": "Replaced the line card"}

        forged, forged_headers = _signed_callback("whsec_" + "A" * 43, body)
        rejected = await http.post(callback_url, content=forged, headers=forged_headers)
        assert rejected.status_code == 401
        assert rejected.headers["content-type"] == "application/problem+json"

        raw, headers = _signed_callback(system.callback_secret, body)
        accepted = await http.post(callback_url, content=raw, headers=headers)
        assert accepted.status_code == 202 and accepted.json()["status"] == "accepted", accepted.text
        replay = await http.post(callback_url, content=raw, headers=headers)
        assert replay.status_code == 202 and replay.json()["status"] == "duplicate"

        resolved = await eventually(
            lambda: _when(view, lambda v: v["status"] == "resolved"), timeout=15, what="incident resolved"
        )
        assert resolved["resolution_code"] == "vendor_resolved"
        # The SLA monitor stopped the resolution clock within target.
        final = await eventually(
            lambda: _when(
                view,
                lambda v: v["sla"]["resolution"]["state"] == "met" and v["sla"]["response"]["state"] == "met",
            ),
            timeout=15,
            what="response and resolution clocks met",
        )

        # The last tier clock (L3) breached; nothing is left running once the incident is resolved.
        assert (final["sla"]["tier"]["tier"], final["sla"]["tier"]["state"]) == ("L3", "breached")
        assert final["sla"]["response"]["state"] == "met"

        mine = [e for e in reader.envelopes() if e.subject == incident_id]
        counts = Counter(e.type for e in mine)
        assert counts["tierline.incident.created.v1"] == 1
        assert counts["tierline.incident.assigned.v1"] == 1
        assert counts["tierline.incident.escalated.v1"] == 3
        assert counts["tierline.sla.breached.v1"] == 3
        assert counts["tierline.vendor.case_opened.v1"] == 1
        assert counts["tierline.vendor.case_resolved.v1"] == 1
        assert counts["tierline.incident.resolved.v1"] == 1
        ids = [e.id for e in mine]
        assert len(ids) == len(set(ids)), "an event was published twice"

        escalations = [e.data for e in mine if e.type == "tierline.incident.escalated.v1"]
        assert [(e.from_tier, e.to_tier, e.reason) for e in escalations] == [
            ("L1", "L2", "sla_breach"),
            ("L2", "L3", "sla_breach"),
            ("L3", "L4", "sla_breach"),
        ]
        breaches = [e.data for e in mine if e.type == "tierline.sla.breached.v1"]
        assert [(b.clock, b.tier) for b in breaches] == [("tier", "L1"), ("tier", "L2"), ("tier", "L3")]

    steps = [
        "created",
        "assigned",
        "sla_breached",
        "escalated",
        "sla_breached",
        "escalated",
        "sla_breached",
        "escalated",
        "vendor_case_opened",
        "vendor_case_resolved",
        "resolved",
    ]
    kinds = [item["kind"] for item in final["timeline"] if item["kind"] in set(steps)]
    assert kinds == steps
    assert len(system.vendor.received) == 1


async def _when(fetch, predicate):
    value = await fetch()
    return value if predicate(value) else None
