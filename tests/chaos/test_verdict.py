"""The chaos verdict's own judgement: redelivery of one event is harmless, two events for one step are not."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from tests.chaos.verdict import ASSIGNED, BREACHED, CREATED, Verdict, _record


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
