"""The SLA monitor's Prometheus metrics: outcomes as they happen, and the clocks armed."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTCOMES = Counter(
    "tierline_sla_outcomes_total",
    "Clock outcomes announced (warning, breached, met), by clock kind",
    ["clock", "outcome"],
)
FIRE_DELAY = Histogram(
    "tierline_sla_fire_delay_seconds",
    "How late the poller announced a warning or breach after its moment",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
CLOCKS = Gauge(
    "tierline_sla_clocks",
    "Clocks by kind and state (running and paused are the armed ones)",
    ["clock", "state"],
)


def outcome(clock: str, what: str) -> None:
    OUTCOMES.labels(clock, what).inc()


def observe_clocks(counts: dict[tuple[str, str], int]) -> None:
    CLOCKS.clear()
    for (clock, state), count in counts.items():
        CLOCKS.labels(clock, state).set(count)
