"""The reports bench's dataset and a small run of it on the real PostgreSQL.

The bench itself (100,000 incidents) runs with `make bench`, never in the test suite.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.bench import reports

END = datetime(2026, 12, 1, tzinfo=UTC)
START = END - timedelta(days=reports.DAYS)


def _dataset(n: int = 3000) -> list[tuple[dict[str, object], list[dict[str, object]]]]:
    return [
        (
            dict(zip(reports.FACT_COLUMNS, f, strict=True)),
            [dict(zip(reports.STINT_COLUMNS, s, strict=True)) for s in ss],
        )
        for f, ss in reports.incidents(n, START, END, seed=3)
    ]


def test_facts_agree_with_their_stints() -> None:
    for facts, stints in _dataset():
        assert START <= facts["created_at"] < END
        assert [s["n"] for s in stints] == list(range(1, len(stints) + 1))
        assert stints[0]["started_at"] == facts["created_at"]
        for before, after in itertools.pairwise(stints):
            assert before["ended_at"] == after["started_at"] and before["ended_by"] in (
                "escalated",
                "reassigned",
            )
        last = stints[-1]
        held = list(dict.fromkeys(s["tier"] for s in stints))
        assert facts["tiers_held"] == held and facts["escalated_from"] == held[:-1]
        assert facts["l1_only"] == (held == ["L1"]) and facts["tier"] == last["tier"]
        assert facts["reassignments"] == sum(s["ended_by"] == "reassigned" for s in stints)
        resolved = facts["resolved_at"]
        assert resolved == last["ended_at"] and (last["ended_by"] == "resolved") == (resolved is not None)
        assert (facts["first_contact"] is None) == (resolved is None)
        assert (facts["status"] in ("resolved", "closed")) == (resolved is not None)
        assert facts["csat_score"] is None or resolved is not None
        assert facts["breached"] == (facts["response_met"] is False or facts["resolution_met"] is False)
        assert (facts["vendor_handoff_at"] is not None) == ("L4" in held) == (facts["vendor"] is not None)
        handled = [s["handle_seconds"] for s in stints if s["handle_seconds"] is not None]
        assert (facts["handled_seconds"], facts["handled_stints"]) == (sum(handled), len(handled))
        for s in stints:
            assert s["created_at"] == facts["created_at"]  # the incident's, as the refresher writes it
            assert (s["vendor"] is not None) == (s["tier"] == "L4")
            worked = s["agent"] is not None and s["ended_by"] in ("resolved", "escalated")
            assert (s["handle_seconds"] is not None) == worked
            if worked:
                span = (s["ended_at"] - s["started_at"]).total_seconds()
                assert s["handle_seconds"] == pytest.approx(span - s["hold_seconds"])


def test_the_mix_is_a_service_desks() -> None:
    data = _dataset()
    facts = [f for f, _ in data]
    per_incident = statistics.mean(len(s) for _, s in data)
    assert 1.3 <= per_incident <= 1.7  # ~1.5 stints each
    assert {t for f in facts for t in f["tiers_held"]} == {"L1", "L2", "L3", "L4"}
    assert 0.5 < statistics.mean(f["l1_only"] for f in facts) < 0.85
    assert {f["channel"] for f in facts} == {c for c, _ in reports.CHANNELS}
    assert {f["priority"] for f in facts} == {p for p, _ in reports.PRIORITIES}
    resolved = [f for f in facts if f["resolved_at"] is not None]
    assert 0.8 < len(resolved) / len(facts) < 1  # open ones too: a backlog
    assert any(f["reopen_count"] for f in resolved) and any(f["csat_score"] for f in resolved)
    assert any(f["first_contact"] for f in resolved) and not all(f["first_contact"] for f in resolved)
    ages = [(END - f["created_at"]).days for f in facts if f["resolved_at"] is None]
    assert min(ages) < 10 and max(ages) > 30  # every ageing bucket has some


def test_options_are_clamped() -> None:
    args = reports.parse_args(["--incidents", "5", "--repeat", "999"])
    assert args.incidents == 1000 and args.repeat == 50 and not args.explain
    assert reports.parse_args([]).incidents == 100_000


@pytest.mark.integration
async def test_a_small_run_loads_and_times(new_database: Callable[[str], str]) -> None:
    url = new_database("bench_reports")
    lines = await reports.main_async(url, 2000, 2, always_explain=True)
    assert lines[0].startswith("2,000 incidents over 90 days") and "baseline" in lines[1]
    assert not any("MISSED" in line for line in lines)  # 2,000 incidents are far under 200 ms
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM incident_facts") == 2000
        stints = await conn.fetchval("SELECT count(*) FROM incident_stints")
        assert f"{stints:,} stints" in lines[0]
    finally:
        await conn.close()
