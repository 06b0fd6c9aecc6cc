"""The compliance report over a hand-made mix of incidents, and the finish times it averages.

P1 (response 15 min, resolution 4 h) and P2 (30 min, 8 h) run 24x7, so every figure below is plain
arithmetic; p90 is PostgreSQL's percentile_cont (linear interpolation).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tierline_sla_monitor.service_layer import clocks, compliance

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


def stats(total: int, met: int, breached: int, open: int = 0, cancelled: int = 0, *times: float) -> dict:
    """Expected ClockStats; ``times``: every finished business time of the group, to average by hand."""
    ended = met + breached
    ordered = sorted(times)
    p90 = None
    if ordered:  # linear interpolation between the closest ranks, as percentile_cont does
        rank = 0.9 * (len(ordered) - 1)
        low = int(rank)
        high = min(low + 1, len(ordered) - 1)
        p90 = ordered[low] + (rank - low) * (ordered[high] - ordered[low])
    return _rounded(
        {
            "total": total,
            "met": met,
            "breached": breached,
            "open": open,
            "cancelled": cancelled,
            "met_percent": round(100 * met / ended, 2) if ended else None,
            "mean_seconds": sum(times) / len(times) if times else None,
            "p90_seconds": p90,
        }
    )


def _rounded(values: dict) -> dict:
    """Floats to the microsecond: PostgreSQL's averages and ours differ in the last bits."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()}


async def report(harness, group_by: str, start: datetime = T0, end: datetime = T0 + 6 * H) -> dict:
    groups = await harness.run(compliance.compliance_report, start=start, end=end, group_by=group_by)
    return {g.group: {kind: _rounded(s.model_dump()) for kind, s in g.clocks.items()} for g in groups}


async def build_history(harness) -> None:
    """Five incidents in the window, one before it and one at its end; see the comments for outcomes."""
    run, deps = harness.run, harness.deps
    a = await harness.create("P1", "mail")  # in time throughout, with a vendor
    b = await harness.create("P1", "vpn")  # late throughout, with a late vendor
    c = await harness.create("P2", "mail")  # in time
    d = await harness.create("P2", "mail")  # acknowledged late, still open
    e = await harness.create("P2", "vpn")  # acknowledged at once, still open
    await harness.create("P3", "vpn", at=T0 - 24 * H)  # before the window
    await harness.create("P1", "mail", at=T0 + 6 * H)  # at the window's end: outside it

    def tier(incident: Any, name: str, budget: float | None, at: datetime) -> Any:
        return run(
            clocks.restart_tier_clock, deps, incident_id=incident, tier=name, budget_seconds=budget, at=at
        )

    def vendor(incident: Any, name: str, response: float, resolution: float, at: datetime) -> Any:
        return run(
            clocks.start_vendor_clocks,
            deps,
            incident,
            vendor=name,
            response_seconds=response,
            resolution_seconds=resolution,
            at=at,
        )

    await tier(a, "L1", 1800, T0)
    await tier(b, "L1", 1800, T0)
    for minutes, actions in [
        (1, [lambda t: run(clocks.stop_response_clock, deps, e, t)]),  # met, 60 s
        (5, [lambda t: run(clocks.stop_response_clock, deps, c, t)]),  # met, 300 s
        (10, [lambda t: run(clocks.stop_response_clock, deps, a, t)]),  # met, 600 s
        (15, []),  # the poller breaches b's response
        (
            20,
            [lambda t: tier(a, "L2", 7200, t), lambda t: run(clocks.stop_response_clock, deps, b, t)],
        ),  # 1200 s
        (30, []),  # the poller breaches b's L1 budget and d's response
        (40, [lambda t: run(clocks.stop_response_clock, deps, d, t)]),  # breached, 2400 s
        (60, [lambda t: tier(a, "L4", None, t), lambda t: vendor(a, "acme", 3600, 14400, t)]),
        (60, [lambda t: tier(b, "L4", None, t), lambda t: vendor(b, "initech", 1800, 7200, t)]),
        (
            90,
            [lambda t: run(clocks.stop_vendor_clocks, deps, a, t, vendor="acme", resolved=False)],
        ),  # acme met, 1800 s
        (120, [lambda t: run(clocks.stop_all_clocks, deps, c, t)]),  # c resolved, 7200 s
        (
            120,
            [lambda t: run(clocks.stop_vendor_clocks, deps, b, t, resolved=False, vendor="initech")],
        ),  # initech late, 3600 s
        (180, [lambda t: run(clocks.stop_all_clocks, deps, a, t)]),  # 10800 s; acme's resolution 7200 s
        (240, []),  # the poller breaches b's resolution
        (300, [lambda t: run(clocks.stop_all_clocks, deps, b, t)]),  # 18000 s; initech's 14400 s
    ]:
        at = T0 + minutes * M
        await harness.fire(at)
        for action in actions:
            await action(at)


async def test_compliance_by_priority_service_tier_and_vendor_matches_hand_counts(harness) -> None:
    await build_history(harness)
    by_priority = await report(harness, "priority")
    assert by_priority == {
        "P1": {
            "response": stats(2, 1, 1, 0, 0, 600, 1200),
            "resolution": stats(2, 1, 1, 0, 0, 10800, 18000),
            "tier": stats(3, 2, 1, 0, 0, 1200, 2400, 3600),  # a's L1, L2 left in time; b's L1 ran out
            "vendor_response": stats(2, 1, 1, 0, 0, 1800, 3600),
            "vendor_resolution": stats(2, 1, 1, 0, 0, 7200, 14400),
        },
        "P2": {
            "response": stats(3, 2, 1, 0, 0, 60, 300, 2400),
            "resolution": stats(3, 1, 0, 2, 0, 7200),
        },
    }
    # the same figures, worked out on paper
    p1, p2 = by_priority["P1"]["resolution"], by_priority["P2"]["response"]
    assert (p1["met_percent"], p1["mean_seconds"], p1["p90_seconds"]) == (50.0, 14400.0, 17280.0)
    assert (p2["met_percent"], p2["mean_seconds"], p2["p90_seconds"]) == (66.67, 920.0, 1980.0)
    tiers = by_priority["P1"]["tier"]
    assert (tiers["met_percent"], tiers["mean_seconds"]) == (66.67, 2400.0)

    by_service = await report(harness, "service")
    assert {g: {k: by_service[g][k] for k in ("response", "resolution")} for g in by_service} == {
        "mail": {
            "response": stats(3, 2, 1, 0, 0, 300, 600, 2400),
            "resolution": stats(3, 2, 0, 1, 0, 7200, 10800),
        },
        "vpn": {"response": stats(2, 1, 1, 0, 0, 60, 1200), "resolution": stats(2, 0, 1, 1, 0, 18000)},
    }
    assert by_service["mail"]["tier"] == stats(2, 2, 0, 0, 0, 1200, 2400)
    assert await report(harness, "tier") == {
        "L1": {"tier": stats(2, 1, 1, 0, 0, 1200, 3600)},
        "L2": {"tier": stats(1, 1, 0, 0, 0, 2400)},
    }
    assert await report(harness, "vendor") == {
        "acme": {
            "vendor_resolution": stats(1, 1, 0, 0, 0, 7200),
            "vendor_response": stats(1, 1, 0, 0, 0, 1800),
        },
        "initech": {
            "vendor_resolution": stats(1, 0, 1, 0, 0, 14400),
            "vendor_response": stats(1, 0, 1, 0, 0, 3600),
        },
    }
    # the window counts clocks started in [from, to): the vendor clocks started at T0 + 1 h exactly
    later = await report(harness, "priority", start=T0 + H)
    assert {g: sorted(kinds) for g, kinds in later.items()} == {
        "P1": ["vendor_resolution", "vendor_response"]
    }
    assert await report(harness, "priority", start=T0 + 20 * M, end=T0 + H) == {
        "P1": {"tier": stats(1, 1, 0, 0, 0, 2400)}
    }
    widened = await report(harness, "priority", end=T0 + 6 * H + timedelta(microseconds=1))
    assert widened["P1"]["response"]["open"] == 1  # the incident created at the end now counts


async def test_an_in_time_stop_that_arrives_after_the_breach_records_its_real_duration(harness) -> None:
    incident = await harness.create("P1")  # response due T0 + 15 min
    await harness.fire(T0 + 15 * M)
    await harness.run(clocks.stop_response_clock, harness.deps, incident, T0 + 10 * M)
    response = (await harness.clocks(incident))["response"]
    assert (response.state, response.finished_seconds) == ("met", 600.0)


async def test_a_late_stop_reaching_a_late_poller_records_the_time_to_the_stop(harness) -> None:
    incident = await harness.create("P1")  # response due T0 + 15 min
    await harness.fire(T0 + 25 * M)  # the poller was down for ten minutes
    await harness.run(clocks.stop_response_clock, harness.deps, incident, T0 + 17 * M)
    response = (await harness.clocks(incident))["response"]
    assert (response.state, response.finished_seconds) == ("breached", 1020.0)
