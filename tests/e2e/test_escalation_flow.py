"""One incident from HTTP intake to an L4 vendor webhook and back, across the services; and the mail the
notifier sends about an incident: the assignee's acknowledge link and the reporter's CSAT link, each
acting once."""

from __future__ import annotations

import json
import time
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


# -- notifications: the assignee's email with an acknowledge link, the reporter's with a CSAT link --

EMAIL_DEADLINE_S = 10.0  # POST -> the L1 assignee's email (`make run`'s promise is 5 s; CI is noisy)
JSON = {"Accept": "application/json"}


def _kind(kind: str, incident_id: str):
    return lambda m: m.message["X-Tierline-Kind"] == kind and m.message["X-Tierline-Incident"] == incident_id


async def test_assignee_and_reporter_are_mailed_links_that_act_once(system: System) -> None:
    intake = system.url("intake")
    reporter = f"reporter-{uuid.uuid4().hex[:8]}@example.com"
    incident = INCIDENT | {"title": f"VPN tunnels flapping {uuid.uuid4().hex[:6]}", "reporter": reporter}
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http:
        posted_at = time.monotonic()
        created = await http.post(f"{intake}/v1/incidents", json=incident)
        assert created.status_code == 201, created.text
        incident_id = created.json()["id"]
        url = f"{intake}/v1/incidents/{incident_id}"

        async def view() -> dict:
            answer = await http.get(url)
            assert answer.status_code == 200, answer.text
            return answer.json()

        # the router's L1 assignment (its event) names the assignee; the notifier mails them
        assigned = await eventually(
            lambda: _when(view, lambda v: any(t["kind"] == "assigned" for t in v["timeline"])),
            timeout=EMAIL_DEADLINE_S,
            what="the L1 assignment",
        )
        assignee = next(t["data"] for t in assigned["timeline"] if t["kind"] == "assigned")["assignee"]
        assert assignee, f"nobody was free at L1: {assigned['timeline']}"
        address = f"{assignee}@example.com"  # deploy/config/notifications.yaml
        mails = await eventually(
            lambda: system.mail.to(address, _kind("assigned", incident_id)),
            timeout=max(1.0, EMAIL_DEADLINE_S - (time.monotonic() - posted_at)),
            what=f"the assignment email to {address}",
        )
        latency = mails[0].received_at - posted_at
        print(f"\nPOST /v1/incidents -> the L1 assignee's email: {latency:.2f}s")
        assert len(mails) == 1, [m.subject for m in mails]
        assert incident["title"] in mails[0].subject
        links = mails[0].links()
        assert len(links) == 1 and links[0].startswith(f"{intake}/v1/links/"), mails[0].text
        ack = links[0]

        # GET shows what the link would do and changes nothing (mail scanners prefetch links)
        shown = await http.get(ack, headers=JSON)
        assert shown.status_code == 200, shown.text
        assert shown.json()["purpose"] == "acknowledge" and shown.json()["person"] == assignee
        page = await http.get(ack)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        untouched = await view()
        assert (untouched["status"], untouched["acknowledged_at"]) == ("open", None)

        # POST acknowledges, as the assignee; a second POST is refused and changes nothing
        used = await http.post(ack, headers=JSON)
        assert used.status_code == 200, used.text
        assert used.json()["status"] == "acknowledged"
        acknowledged = await view()
        assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_at"]
        acks = [t for t in acknowledged["timeline"] if t["kind"] == "acknowledged"]
        assert [t["summary"] for t in acks] == [f"Acknowledged by {assignee}"]
        again = await http.post(ack, headers=JSON)
        assert again.status_code == 409, again.text
        assert again.headers["content-type"] == "application/problem+json"
        after = await view()
        assert after["acknowledged_at"] == acknowledged["acknowledged_at"]
        assert [t for t in after["timeline"] if t["kind"] == "acknowledged"] == acks

        # the notifier's notification.sent events reach intake's timeline
        notified = await eventually(
            lambda: _when(
                view,
                lambda v: [
                    t
                    for t in v["timeline"]
                    if t["kind"] == "notified" and assignee in t["summary"] and "email" in t["summary"]
                ],
            ),
            timeout=15,
            what="a 'notified' line for the assignee in intake's timeline",
        )
        assert any("assigned" in t["summary"] for t in notified["timeline"] if t["kind"] == "notified")

        # the reporter heard of the ticket; resolving it mails them a CSAT link
        await eventually(
            lambda: system.mail.to(reporter, _kind("reporter_created", incident_id)),
            timeout=15,
            what="the reporter's 'we have your ticket' email",
        )
        resolved = await http.post(
            f"{url}/resolve", json={"by": assignee, "resolution_code": "fixed", "note": "Rebooted the VPN"}
        )
        assert resolved.status_code == 200, resolved.text
        closing = await eventually(
            lambda: system.mail.to(reporter, _kind("reporter_resolved", incident_id)),
            timeout=15,
            what="the reporter's 'resolved' email",
        )
        assert len(closing) == 1
        csat_links = set(closing[0].links())
        assert len(csat_links) == 1, closing[0].text  # one token; ?score=1..5 only preselects
        csat = csat_links.pop()
        assert (await view())["csat_score"] is None  # showing the mail's links recorded nothing
        scored = await http.post(csat, json={"score": 5}, headers=JSON)
        assert scored.status_code == 200, scored.text
        assert scored.json()["csat_score"] == 5
        rescored = await http.post(csat, json={"score": 1}, headers=JSON)
        assert rescored.status_code == 409, rescored.text
        final = await view()
        assert final["csat_score"] == 5
        assert [t["data"]["score"] for t in final["timeline"] if t["kind"] == "csat"] == [5]
        # every mail to the assignee or the reporter about this incident came once per message
        ids = [
            m.message["Message-ID"]
            for m in system.mail.mails
            if m.message["X-Tierline-Incident"] == incident_id
        ]
        assert len(ids) == len(set(ids))
