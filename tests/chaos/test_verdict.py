"""The chaos verdict's own judgement: redelivery of one event is harmless, two events for one step are not."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks import Webhook

from tests.chaos.load import Load, Post
from tests.chaos.stack import new_secret
from tests.chaos.vendor import make_app, read_deliveries
from tests.chaos.verdict import (
    ASSIGNED,
    BREACHED,
    CREATED,
    Verdict,
    _record,
    notifier_findings,
    undelivered,
    vendor_findings,
)


@dataclass
class Rec:
    value: bytes
    timestamp: int


def feed(
    events: list[tuple[str, str, Mapping[str, object], int]],
) -> tuple[dict[tuple[str, ...], set[str]], dict[str, float], Counter[str]]:
    seen: Counter[str] = Counter()
    steps: dict[tuple[str, ...], set[str]] = defaultdict(set)
    first: dict[str, float] = {}
    for ce_type, ce_id, data, ts in events:
        _record(Rec(json.dumps(data).encode(), ts), {"ce_type": ce_type, "ce_id": ce_id}, seen, steps, first)
    return steps, first, seen


def test_the_same_event_twice_is_a_redelivery_not_a_duplicate() -> None:
    data = {"incident_id": "i-1", "tier": "L1", "reason": "routed", "queue": "desk", "assignee": None}
    steps, first, seen = feed([(ASSIGNED, "e-1", data, 2000), (ASSIGNED, "e-1", data, 1000)])

    assert [len(ids) for ids in steps.values()] == [1]
    assert seen["e-1"] == 2
    assert first == {"i-1": 1.0}  # the earliest copy's time


def test_two_events_for_one_step_are_a_duplicate() -> None:
    assigned = {"incident_id": "i-1", "tier": "L1", "reason": "routed", "queue": "desk", "assignee": "alice"}
    breach = {"incident_id": "i-1", "clock": "response", "tier": None}
    steps, _, _ = feed(
        [
            (ASSIGNED, "e-1", assigned, 1000),
            (ASSIGNED, "e-2", assigned, 1100),
            (ASSIGNED, "e-3", {**assigned, "tier": "L2", "queue": "ops"}, 1200),  # another step
            (BREACHED, "e-4", breach, 1300),
            (BREACHED, "e-5", breach, 1400),
            (CREATED, "e-6", {"incident_id": "i-1"}, 900),
        ]
    )

    doubled = sorted(step[0] for step, ids in steps.items() if len(ids) > 1)
    assert doubled == [ASSIGNED, BREACHED]


def test_the_verdict_fails_on_a_loss_a_duplicate_or_no_judgement() -> None:
    good = Verdict(judged=True, converged=True)
    assert good.ok
    assert not Verdict(judged=False, converged=True).ok
    assert not Verdict(judged=True, converged=True, lost={"never assigned by the router": ["i-1"]}).ok
    assert not Verdict(judged=True, converged=True, duplicated={"incident.created": ["i-1"]}).ok
    assert not Verdict(judged=True, converged=False).ok


def delivery(webhook_id: str, sha: str, incident: str, answer: object = 202) -> dict[str, object]:
    return {
        "webhook_id": webhook_id,
        "sha256": sha,
        "incident_id": incident,
        "signature_valid": True,
        "answer": answer,
    }


def test_vendor_deliveries_lost_doubled_or_harmlessly_repeated() -> None:
    load = Load(intake_url="", api_key="", incidents=3, rate=1, seed=1, run_id="r")
    for n, at in (("1", 10.0), ("2", 11.0), ("3", 12.0)):
        load.posts[n] = Post(key=n, sent_at=1.0, incident_id=f"i-{n}", escalate=True, escalated_at=at)
    deliveries = [
        delivery("msg_a", "h1", "i-1", 500),
        delivery("msg_a", "h1", "i-1", "stall"),  # the gateway's retry after a 500 and a timeout
        delivery("msg_a", "h1", "i-1"),
        delivery("msg_b", "h2", "i-2"),
        delivery("msg_b", "h3", "i-2"),  # one webhook id, another body: a duplicate
        {**delivery("msg_c", "h4", "i-3"), "signature_valid": False},  # a forgery delivers nothing
    ]
    verdict = Verdict()
    lost: dict[str, list[str]] = defaultdict(list)
    dup: dict[str, list[str]] = defaultdict(list)

    vendor_findings(load, deliveries, verdict, lost, dup)

    assert lost["escalated to L4, never delivered to the vendor"] == ["i-3"]
    assert dup["deliveries of one webhook id with different content"] == ["msg_b (2 bodies)"]
    assert verdict.vendor_redelivered_same_content == 2
    assert verdict.escalated_to_l4 == 3
    assert verdict.vendor_answers == {"202": 4, "500": 1, "stall": 1}
    assert undelivered({"i-1": 1.0}, deliveries) == []


def test_the_receiver_records_each_delivery_before_answering(tmp_path) -> None:
    secret, record = new_secret(), tmp_path / "d.jsonl"
    body = json.dumps({"type": "case.opened", "data": {"case_id": "c-1", "incident": {"id": "i-9"}}})

    async def go() -> list[int]:
        app = make_app(secret=secret, record=record, seed=3, stall_seconds=0.05)
        async with TestClient(TestServer(app)) as client:
            statuses = []
            for _ in range(30):
                now = datetime.now(UTC)
                headers = {
                    "webhook-id": "msg_1",
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": Webhook(secret).sign("msg_1", now, body),
                }
                resp = await client.post("/tierline/cases", data=body, headers=headers)
                statuses.append(resp.status)
            forged = await client.post("/tierline/cases", data=body, headers={"webhook-id": "msg_2"})
            statuses.append(forged.status)
            return statuses

    statuses = asyncio.run(go())
    seen = read_deliveries(record)

    assert len(seen) == 31
    assert {500, 202} <= set(statuses[:30]) and statuses[30] == 401  # it does fail, sometimes
    assert {d["incident_id"] for d in seen} == {"i-9"} and {d["case_id"] for d in seen} == {"c-1"}
    assert len({d["sha256"] for d in seen}) == 1
    assert [d["signature_valid"] for d in seen] == [True] * 30 + [False]
    assert "stall" in {d["answer"] for d in seen}


def test_an_assignment_nobody_was_told_of_and_mail_sent_but_never_received_are_lost() -> None:
    rows = [
        {"id": "n-1", "incident_id": "i-1", "kind": "assigned", "channel": "email", "status": "sent"},
        {"id": "n-2", "incident_id": "i-2", "kind": "team_waiting", "channel": "email", "status": "pending"},
        {"id": "n-3", "incident_id": "i-3", "kind": "reporter_created", "channel": "email", "status": "sent"},
        {"id": "n-4", "incident_id": "i-3", "kind": "assigned", "channel": None, "status": "skipped"},
        {"id": "n-5", "incident_id": "i-4", "kind": "sla_warning", "channel": "email", "status": "sent"},
    ]
    received = Counter({"<n-1@tierline>": 2, "<n-3@tierline>": 1})  # n-1 again: harmless
    verdict = Verdict()
    lost: dict[str, list[str]] = defaultdict(list)

    notifier_findings(rows, {"i-1", "i-2", "i-3", "i-4"}, received, verdict, lost)

    assert lost["assigned by the router, no notification owed for it"] == ["i-4"]
    assert lost["marked sent by the notifier, never received by the SMTP server"] == [
        "i-4 (sla_warning, notification n-5)"
    ]
    assert verdict.notifications == {"sent": 3, "pending": 1, "skipped": 1}
    assert (verdict.mails_received, verdict.mails_received_again) == (3, 1)
