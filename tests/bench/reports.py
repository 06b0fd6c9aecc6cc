"""make bench: intake's KPI and backlog reports over 100,000 incidents of 90 days, against raw asyncpg.

Creates an intake database with its migrations, loads N ``incident_facts`` rows spread over 90
days and their ``incident_stints`` (~1.5 each) with COPY — a service desk's mix of channels,
priorities, types, services, tiers L1 to L4, agents, vendors, open and resolved, reopens, CSAT and
SLA outcomes — ANALYZEs, then times each report's SQL (the service layer's functions, through a
SQLAlchemy session as the endpoints use) several times over the 90 days, against a baseline taken
on the same server in the same run: one raw asyncpg aggregate over the same rows
(``count(*)`` and a mean over ``created_at`` in the range). Figures are medians and their ratio
to the baseline (noisy machines); the target is the issue's: each report <= 200 ms.

    python -m tests.bench.reports [--incidents N] [--repeat N] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.bench.sla_timers import postgres
from tierline_intake.service_layer import reports as service
from tierline_launcher.procs import say
from tierline_shared import db, migrations

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "intake" / "migrations"
TARGET_MS = 200.0
DAYS = 90
COPY_BATCH = 20_000
PHASE_LIMIT_SECONDS = 60
FACT_COLUMNS = (
    "incident_id",
    "created_at",
    "service",
    "category",
    "priority",
    "channel",
    "type",
    "status",
    "tier",
    "queue",
    "agent",
    "vendor",
    "first_ack_at",
    "resolved_at",
    "reopen_count",
    "reassignments",
    "l1_only",
    "first_contact",
    "knowledge_linked",
    "csat_score",
    "tiers_held",
    "escalated_from",
    "hold_seconds",
    "response_met",
    "resolution_met",
    "breached",
    "vendor_handoff_at",
    "vendor_ack_at",
    "vendor_resolved_at",
    "vendor_rejected",
    "vendor_failed",
    "vendor_response_met",
    "vendor_resolution_met",
    "refreshed_at",
    "handled_seconds",
    "handled_stints",
)
STINT_COLUMNS = (
    "incident_id",
    "n",
    "tier",
    "queue",
    "agent",
    "vendor",
    "started_at",
    "ended_at",
    "ended_by",
    "hold_seconds",
    "handle_seconds",
    "created_at",
)
# The baseline: what any report must at least do, one pass over the range's rows by its index.
RAW_BASELINE = (
    "SELECT count(*), avg(extract(epoch FROM resolved_at - created_at)) FROM incident_facts "
    "WHERE created_at >= $1 AND created_at < $2"
)

SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
HOUR = 3600.0
MINUTE = 60.0
# (value, weight): a service desk's mix
CHANNELS = [("web", 35), ("email", 25), ("phone", 15), ("chat", 10), ("monitoring", 10), ("api", 5)]
PRIORITIES = [("P1", 3), ("P2", 12), ("P3", 50), ("P4", 35)]
TYPES = [("incident", 70), ("service_request", 30)]
SERVICES = {  # service -> its categories
    "vpn": ("network", "access"),
    "email": ("m365", "access"),
    "teams": ("m365",),
    "sharepoint": ("m365", "access"),
    "erp": ("application", "database"),
    "crm": ("application", "access"),
    "payroll": ("application", "database"),
    "wifi": ("network",),
    "laptops": ("hardware", "windows"),
    "printers": ("hardware",),
    "kubernetes": ("platform", "linux"),
    "storage": ("platform", "hardware"),
}
# tiers an incident climbs through, by priority: (path, weight)
PATHS = {
    "P1": [(("L1",), 40), (("L1", "L2"), 35), (("L1", "L2", "L3"), 18), (("L1", "L2", "L3", "L4"), 7)],
    "P2": [(("L1",), 55), (("L1", "L2"), 30), (("L1", "L2", "L3"), 11), (("L1", "L2", "L3", "L4"), 4)],
    "P3": [(("L1",), 68), (("L1", "L2"), 24), (("L1", "L2", "L3"), 7), (("L1", "L2", "L3", "L4"), 1)],
    "P4": [(("L1",), 75), (("L1", "L2"), 20), (("L1", "L2", "L3"), 5)],
}
QUEUES = {
    "L1": ("service-desk", "service-desk-emea"),
    "L2": ("network-ops", "platform", "apps"),
    "L3": ("sre-experts", "dba"),
}
AGENTS = {
    "L1": tuple(f"desk-{i:02d}" for i in range(20)),
    "L2": tuple(f"tech-{i:02d}" for i in range(12)),
    "L3": tuple(f"expert-{i:02d}" for i in range(8)),
}
VENDORS = ("acme-networks", "globex-hardware", "initech-software")
# median minutes a tier works an incident before resolving or escalating it, and the response and
# resolution targets in seconds per priority (deploy/config/sla.yaml's defaults)
TIER_MEDIAN_MINUTES = {"L1": 45.0, "L2": 8 * 60.0, "L3": 36 * 60.0, "L4": 4 * 24 * 60.0}
TARGETS = {"P1": (0.25 * HOUR, 4 * HOUR), "P2": (0.5 * HOUR, 8 * HOUR), "P3": (4 * HOUR, 24 * HOUR)}
TARGETS |= {"P4": (8 * HOUR, 48 * HOUR)}
CSAT_WEIGHTS = (5, 7, 10, 30, 48)  # scores 1..5


def _pick(rng: random.Random, mix: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in mix], weights=[w for _, w in mix])[0]


@dataclass
class Dataset:
    facts: int = 0
    stints: int = 0
    open: int = 0
    resolved: int = 0


def _stints(
    rng: random.Random, incident: uuid.UUID, path: tuple[str, ...], created: datetime, end: datetime
) -> tuple[list[tuple[Any, ...]], datetime | None, float, int]:
    """The stints of one incident up its path, ended at ``end`` at the latest.

    Returns the rows, when it was resolved (None: still open at ``end``), its hold seconds and how
    many times it was reassigned within a tier.
    """
    rows: list[tuple[Any, ...]] = []
    at, hold_total, reassigned = created, 0.0, 0
    resolved: datetime | None = None
    stuck = rng.random() < 0.01  # the long tail: waits on something for weeks
    for depth, tier in enumerate(path):
        last_tier = depth == len(path) - 1
        # within a tier, 1 holder, or 2 when it is reassigned (10 % at L1, 5 % above)
        holders = 2 if rng.random() < (0.10 if tier == "L1" else 0.05) and tier != "L4" else 1
        for h in range(holders):
            minutes = rng.lognormvariate(math.log(TIER_MEDIAN_MINUTES[tier]), 1.0) / holders
            if stuck and last_tier:
                minutes += rng.uniform(20, 60) * 24 * 60
            ended: datetime | None = at + timedelta(minutes=minutes)
            last = last_tier and h == holders - 1
            if ended is not None and ended >= end:
                ended = None
            ended_by = None if ended is None else ("resolved" if last else "reassigned")
            if ended is not None and not last and h == holders - 1:
                ended_by = "escalated"
            if tier == "L4":
                queue, agent, vendor = None, None, rng.choice(VENDORS)
            else:
                queue, vendor = rng.choice(QUEUES[tier]), None
                agent = None if rng.random() < 0.03 else rng.choice(AGENTS[tier])  # waited, nobody free
            span = ((ended or end) - at).total_seconds()
            hold = span * rng.uniform(0.1, 0.6) if rng.random() < 0.12 else 0.0
            handle = None
            if agent is not None and ended_by in ("resolved", "escalated"):
                handle = span - hold
            rows.append(
                (
                    incident,
                    len(rows) + 1,
                    tier,
                    queue,
                    agent,
                    vendor,
                    at,
                    ended,
                    ended_by,
                    hold,
                    handle,
                    created,
                )
            )
            hold_total += hold
            reassigned += ended_by == "reassigned"
            if ended is None:
                return rows, None, hold_total, reassigned
            at = ended
            if last:
                resolved = ended
    return rows, resolved, hold_total, reassigned


def incidents(
    n: int, start: datetime, end: datetime, seed: int = 7
) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """n incidents created in [start, end) as (facts row, stint rows), as of ``end``."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    services = sorted(SERVICES)
    for _ in range(n):
        incident = uuid.uuid4()
        created = start + timedelta(seconds=rng.uniform(0, span))
        channel, priority, kind = _pick(rng, CHANNELS), _pick(rng, PRIORITIES), _pick(rng, TYPES)
        service = rng.choice(services)
        category = rng.choice(SERVICES[service])
        path = ("L1",) if kind == "service_request" and rng.random() < 0.9 else _pick(rng, PATHS[priority])
        stints, resolved, hold, reassigned = _stints(rng, incident, path, created, end)
        response_target, resolution_target = TARGETS[priority]
        ack_after = rng.expovariate(1 / (0.4 * response_target))
        first_ack = created + timedelta(seconds=ack_after)
        if first_ack >= end or (resolved is not None and first_ack > resolved):
            first_ack = resolved if resolved is not None and rng.random() < 0.5 else None
        response_met = None if first_ack is None else ack_after <= response_target
        duration = ((resolved or end) - created).total_seconds()
        if resolved is not None:
            resolution_met: bool | None = duration <= resolution_target
            status = "closed" if (end - resolved) > timedelta(days=3) and rng.random() < 0.6 else "resolved"
        else:
            resolution_met = False if duration > resolution_target else None
            status = rng.choice(("open", "acknowledged", "acknowledged", "on_hold"))
        reopens = 0
        if resolved is not None and rng.random() < 0.05:
            reopens = 2 if rng.random() < 0.2 else 1
        tiers = [s[2] for s in stints]
        held = list(dict.fromkeys(tiers))
        window = 15 * MINUTE if channel in ("phone", "chat") else HOUR
        csat = None
        if resolved is not None and rng.random() < 0.25:
            csat = rng.choices(range(1, 6), weights=CSAT_WEIGHTS)[0]
        last = stints[-1]
        vendor = {}
        if "L4" in held:
            handoff = next(s[6] for s in stints if s[2] == "L4")
            ack = handoff + timedelta(minutes=rng.expovariate(1 / 40))
            vendor = {
                "handoff": handoff,
                "ack": ack if ack < end and rng.random() < 0.92 else None,
                "resolved": resolved,
                "rejected": rng.random() < 0.03,
                "failed": rng.random() < 0.01,
                "response_met": None if ack >= end else ack - handoff <= timedelta(hours=1),
                "resolution_met": None if resolved is None else resolved - handoff <= timedelta(days=5),
            }
        facts = (
            incident,
            created,
            service,
            category,
            priority,
            channel,
            kind,
            status,
            last[2],  # tier, queue, agent, vendor: where it is now or was resolved
            last[3],
            last[4] or next((s[4] for s in reversed(stints) if s[4]), None),
            last[5],  # the vendor: only an L4 stint has one, and L4 is always the last
            first_ack,
            resolved,
            reopens,
            reassigned,
            held == ["L1"],
            None if resolved is None else duration <= window,
            resolved is not None and rng.random() < (0.3 if held == ["L1"] else 0.5),
            csat,
            held,
            held[:-1],
            hold,
            response_met,
            resolution_met,
            response_met is False or resolution_met is False,
            vendor.get("handoff"),
            vendor.get("ack"),
            vendor.get("resolved"),
            vendor.get("rejected", False),
            vendor.get("failed", False),
            vendor.get("response_met"),
            vendor.get("resolution_met"),
            end,
            sum(s[10] for s in stints if s[10] is not None),
            sum(1 for s in stints if s[10] is not None),
        )
        yield facts, stints


async def load(conn: asyncpg.Connection, n: int, start: datetime, end: datetime) -> Dataset:
    """COPY n incidents' facts and stints in batches, saying how far it got."""
    data = Dataset()
    rows = incidents(n, start, end)
    began = time.perf_counter()
    while data.facts < n:
        facts: list[tuple[Any, ...]] = []
        stints: list[tuple[Any, ...]] = []
        for fact, its in (next(rows) for _ in range(min(COPY_BATCH, n - data.facts))):
            facts.append(fact)
            stints += its
        await conn.copy_records_to_table("incident_facts", records=facts, columns=FACT_COLUMNS)
        await conn.copy_records_to_table("incident_stints", records=stints, columns=STINT_COLUMNS)
        data.facts += len(facts)
        data.stints += len(stints)
        data.resolved += sum(1 for f in facts if f[13] is not None)
        elapsed = time.perf_counter() - began
        say(
            f"  loaded {data.facts:>7,} incidents, {data.stints:>7,} stints in {elapsed:5.1f}s"
            f" ({data.facts / elapsed:,.0f} incidents/s)"
        )
    data.open = data.facts - data.resolved
    return data


async def timed(repeat: int, fn: Callable[[], Awaitable[Any]]) -> list[float]:
    """Milliseconds of each of ``repeat`` runs, after one unmeasured run (warm caches, plans)."""
    await fn()
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


class Statements:
    """Every statement a session's engine sends while listening (for EXPLAIN of a slow report)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []
        self.listening = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.listening:
            self.seen.append((statement, parameters))

    async def capture(self, fn: Callable[[], Awaitable[Any]]) -> list[tuple[str, Any]]:
        self.seen, self.listening = [], True
        try:
            await fn()
        finally:
            self.listening = False
        return self.seen


async def explain(conn: asyncpg.Connection, statements: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement, as asyncpg receives it (bound parameters)."""
    lines = []
    for sql, params in statements:
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *(params or ()))
        head = " ".join(sql.split())
        lines += ["  ---", f"    {head[:160]}{' ...' if len(head) > 160 else ''}", "  plan:"]
        lines += [f"    {r[0]}" for r in plan]
    return lines


Report = Callable[[AsyncSession, datetime, datetime], Awaitable[Any]]


def reports() -> list[tuple[str, Report]]:
    """The reports to time, (name, call over [start, end)): the service layer's, as the endpoints call it."""

    def kpis(group_by: str | None = None, interval: str | None = None) -> Report:
        async def run(session: AsyncSession, start: datetime, end: datetime) -> Any:
            return await service.kpis(
                session, service.KpiQuery(start=start, end=end, group_by=group_by, interval=interval)
            )

        return run

    async def backlog(session: AsyncSession, start: datetime, end: datetime) -> Any:
        return await service.backlog(session, service.BacklogQuery(at=end, start=start, end=end))

    return [
        ("kpis total", kpis()),
        ("kpis group_by=tier", kpis("tier")),
        ("kpis group_by=agent", kpis("agent")),
        ("kpis group_by=vendor", kpis("vendor")),
        ("kpis interval=week", kpis(None, "week")),
        ("backlog (at the end)", backlog),
    ]


def _line(name: str, ms: list[float], baseline: float) -> str:
    med = statistics.median(ms)
    verdict = "met" if med <= TARGET_MS else "MISSED"
    return (
        f"  {name:<28} median {med:8.1f} ms  (min {min(ms):7.1f}, max {max(ms):7.1f})"
        f"   ratio {med / baseline:6.1f}   <= {TARGET_MS:.0f} ms: {verdict}"
    )


async def main_async(url: str, n: int, repeat: int, always_explain: bool) -> list[str]:
    migrations.upgrade(MIGRATIONS, url)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)
    engine = db.create_engine(url, pool_size=1)
    statements = Statements(engine)
    sessions = db.session_factory(engine)
    lines: list[str] = []
    try:
        say(f"loading {n:,} incidents created over {DAYS} days with COPY, {COPY_BATCH:,} a batch")
        data = await asyncio.wait_for(load(conn, n, start, end), PHASE_LIMIT_SECONDS)
        say("ANALYZE incident_facts, incident_stints")
        await conn.execute("ANALYZE incident_facts")
        await conn.execute("ANALYZE incident_stints")
        size = await conn.fetchval(
            "SELECT pg_size_pretty(pg_total_relation_size('incident_facts')"
            " + pg_total_relation_size('incident_stints'))"
        )
        say(f"baseline: raw asyncpg aggregate over the {DAYS} days, {repeat} runs")
        baseline = statistics.median(await timed(repeat, lambda: conn.fetch(RAW_BASELINE, start, end)))
        lines += [
            f"{data.facts:,} incidents over {DAYS} days ({data.resolved:,} resolved, {data.open:,} open),"
            f" {data.stints:,} stints ({data.stints / data.facts:.2f} each); tables {size}",
            f"baseline (raw asyncpg count + avg over the range): median {baseline:.1f} ms",
        ]
        found = reports()
        missed: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        medians: list[float] = []
        for name, report in found:
            say(f"{name}: {repeat} runs")

            async def once(report: Report = report) -> Any:
                async with sessions() as session, session.begin():  # as Runtime.snapshot() reads
                    await session.connection(execution_options=SNAPSHOT)
                    return await report(session, start, end)

            ms = await asyncio.wait_for(timed(repeat, once), PHASE_LIMIT_SECONDS)
            lines.append(_line(name, ms, baseline))
            medians.append(statistics.median(ms))
            if medians[-1] > TARGET_MS or always_explain:
                missed.append((name, once))
        if medians:  # always, but kept to the figures
            lines.append(
                f"target: every report <= {TARGET_MS:.0f} ms for {n:,} incidents over {DAYS} days:"
                f" {'met' if max(medians) <= TARGET_MS else 'MISSED'} (slowest median {max(medians):.1f} ms)"
            )
        for name, once in missed:
            lines += [f"EXPLAIN (ANALYZE, BUFFERS) of {name}'s statements:"]
            lines += await explain(conn, await statements.capture(once))
    finally:
        await conn.close()
        await engine.dispose()
    return lines


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=100_000, help="incidents loaded (max 500,000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each report (max 50)")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE every report, not only slow ones"
    )
    args = parser.parse_args(argv)
    args.incidents = max(1000, min(args.incidents, 500_000))
    args.repeat = max(1, min(args.repeat, 50))
    return args


def main() -> int:
    args = parse_args()
    began = time.perf_counter()
    with postgres() as server:
        url = server.url(f"bench_reports_{uuid.uuid4().hex[:6]}")
        server.create_database(make_url(url).database or "")
        lines = asyncio.run(main_async(url, args.incidents, args.repeat, args.explain))
    print(
        f"\nTierline reports benchmark (ratio = report / raw asyncpg aggregate over the same rows,"
        f" same server, same run; {time.perf_counter() - began:.0f}s)"
    )
    for line in lines:
        print(line)
    return 1 if any("MISSED" in line for line in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
