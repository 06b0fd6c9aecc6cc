"""The router's Prometheus metrics: what it decided, and what waits."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ASSIGNMENTS = Counter(
    "tierline_router_assignments_total",
    "Incidents placed in a queue, by tier and reason (routed, reassigned, rerouted, dequeued, reopened, ...)",
    ["tier", "reason", "outcome"],
)
ESCALATIONS = Counter(
    "tierline_router_escalations_total",
    "Tier moves, by source tier, target tier and reason (sla_breach, manual, no_ack, ...)",
    ["from_tier", "to_tier", "reason"],
)
BLOCKED = Counter(
    "tierline_router_escalations_blocked_total",
    "Escalations that were due but could not happen (top of ladder, no vendor)",
    ["tier", "reason"],
)
QUEUE_HELD = Gauge(
    "tierline_router_queue_held", "Open incidents held by an agent, per queue", ["queue", "tier"]
)
QUEUE_DEPTH = Gauge(
    "tierline_router_queue_depth", "Incidents waiting for an agent, per queue", ["queue", "tier"]
)
UNASSIGNED = Gauge("tierline_router_unassigned", "Open incidents no agent holds yet (all queues)")
OPEN = Gauge(
    "tierline_router_open_incidents",
    "Open incidents the router holds, by tier (L1-L4) and priority",
    ["tier", "priority"],
)
SHIFT_CHANGES = Counter(
    "tierline_router_shift_changes",
    "Times a schedule's on-call person changed (seen by the shift-change worker), per schedule",
    ["schedule"],
)
TIERS = ("L1", "L2", "L3", "L4")
PRIORITIES = ("P1", "P2", "P3", "P4")


def assigned(tier: str, reason: str, *, waiting: bool) -> None:
    ASSIGNMENTS.labels(tier, reason, "waiting" if waiting else "assigned").inc()


def escalated(from_tier: str, to_tier: str, reason: str) -> None:
    ESCALATIONS.labels(from_tier, to_tier, reason).inc()


def blocked(tier: str, reason: str) -> None:
    BLOCKED.labels(tier, reason).inc()


def shift_changed(schedule: str) -> None:
    SHIFT_CHANGES.labels(schedule).inc()


def observe_queues(tiers: dict[str, str], counts: dict[str, tuple[int, int]]) -> None:
    """Set the queue gauges from one count (every configured queue gets a value, even zero)."""
    QUEUE_HELD.clear()
    QUEUE_DEPTH.clear()
    for queue, tier in tiers.items():
        held, waiting = counts.get(queue, (0, 0))
        QUEUE_HELD.labels(queue, tier).set(held)
        QUEUE_DEPTH.labels(queue, tier).set(waiting)
    UNASSIGNED.set(sum(waiting for _, waiting in counts.values()))


def observe_open(counts: dict[tuple[str, str], int]) -> None:
    """Set the open-incident gauge; every tier and priority gets a value, even zero."""
    OPEN.clear()
    keys = {(tier, priority) for tier in TIERS for priority in PRIORITIES} | set(counts)
    for tier, priority in sorted(keys):
        OPEN.labels(tier, priority).set(counts.get((tier, priority), 0))
