"""make bench: the SLA poller with a million clocks armed, against a bare SKIP LOCKED claim, in one run.

Arms 1,000,000 running clocks (COPY, due over the next days), then lets a burst of clocks fall
due together and measures how late the real poller (entrypoints.workers.fire_timers, through the
service Runtime) marks each breached, against a raw asyncpg claim-and-update of an equal burst.
Figures are ratios to that baseline, taken on the same server in the same run (noisy machines).

    python -m tests.bench.sla_timers [--clocks N] [--burst N] [--poll-seconds S] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_launcher.postgres import PostgresServer
from tierline_launcher.procs import say
from tierline_launcher.system import ExternalPostgres
from tierline_shared import migrations
from tierline_shared.runtime import Runtime
from tierline_sla_monitor.adapters.clocks import due_clocks
from tierline_sla_monitor.bootstrap import build_spec
from tierline_sla_monitor.config import Settings
from tierline_sla_monitor.domain.policy import ClockState
from tierline_sla_monitor.entrypoints import workers
from tierline_sla_monitor.service_layer.timers import fire_due_clocks
from tierline_sla_monitor.service_layer.unit_of_work import SlaUnitOfWork

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "sla-monitor" / "migrations"
PHASE_LIMIT_SECONDS = 240
TARGET_P99_SECONDS = 1.0
COPY_BATCH = 50_000
DUE_IN = timedelta(seconds=2)  # the burst falls due this long after it is armed
IDLE_POLLS = 50
COLUMNS = (
    "id",
    "incident_id",
    "kind",
    "priority",
    "service",
    "policy",
    "calendar",
    "state",
    "started_at",
    "running_since",
    "elapsed_seconds",
    "target_seconds",
    "warnings",
    "warned",
    "due_at",
    "fire_at",
)
HOUR = 3600.0
# (priority, response target, resolution target) in seconds, as in deploy/config/sla.yaml
TARGETS = [("P1", 0.25 * HOUR, 4 * HOUR), ("P2", 0.5 * HOUR, 8 * HOUR), ("P3", 4 * HOUR, 24 * HOUR)]
TARGETS += [("P4", 8 * HOUR, 48 * HOUR)]
WARNINGS = (0.75, 0.9)
# The baseline: the same claim, written by hand, and the same state change, without ORM or outbox.
RAW_CLAIM = (
    "SELECT id, due_at, now() AS claimed_at FROM clocks WHERE state = 'running' AND fire_at <= now() "
    "ORDER BY fire_at LIMIT $1 FOR UPDATE SKIP LOCKED"
)
RAW_MARK = (
    "UPDATE clocks SET state = 'breached', stopped_at = now(), fire_at = NULL, running_since = NULL "
    "WHERE id = ANY($1::uuid[])"
)


class TimedRuntime(Runtime):
    """The service runtime, noting when each unit of work committed: a breach is visible from then."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commits: list[datetime] = []

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        async with super().unit_of_work() as session:
            yield session
        self.commits.append(datetime.now(UTC))


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[98], max(values)


def _ratio_line(name: str, ours: float, baseline: float, unit: str = "s") -> str:
    return (
        f"  {name:<30} ours {ours:>9.3f} {unit}   raw {baseline:>9.3f} {unit}   ratio {ours / baseline:6.2f}"
    )


def _armed_clocks(n: int, now: datetime, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """Running response and resolution clocks of n/2 incidents, each next due days or hours from now."""
    for i in range(n):
        if i % 2 == 0:
            incident = uuid.uuid4()
            priority, response, resolution = rng.choice(TARGETS)
        kind, target = ("response", response) if i % 2 == 0 else ("resolution", resolution)
        target = max(target, 2 * HOUR)  # nothing armed here may fall due while the bench runs
        remaining = rng.uniform(HOUR, target)
        started = now - timedelta(seconds=target - remaining)
        due = started + timedelta(seconds=target)
        warned = sum(
            1 for w in WARNINGS if started + timedelta(seconds=w * target) < now + timedelta(hours=1)
        )
        fire = started + timedelta(seconds=WARNINGS[warned] * target) if warned < len(WARNINGS) else due
        yield (
            uuid.uuid4(),
            incident,
            kind,
            priority,
            "svc",
            priority.lower(),
            "24x7",
            ClockState.RUNNING.value,
            started,
            started,
            0.0,
            target,
            "[0.75, 0.9]",
            warned,
            due,
            fire,
        )


def _due_clocks(n: int, due: datetime) -> list[tuple[Any, ...]]:
    """n clocks of n incidents that all fall due at ``due`` (a burst: the worst case for lateness)."""
    target = 600.0
    started = due - timedelta(seconds=target)
    fixed = (started, started, 0.0, target, "[]", 0, due, due)
    return [
        (uuid.uuid4(), uuid.uuid4(), "response", "P1", "svc", "p1", "24x7", "running", *fixed)
        for _ in range(n)
    ]


async def _connect(url: str) -> asyncpg.Connection:
    u = make_url(url)
    return await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)


async def arm(conn: asyncpg.Connection, n: int) -> float:
    """COPY n armed clocks in batches (with every index the service has); returns rows/s."""
    rng = random.Random(7)
    rows = _armed_clocks(n, datetime.now(UTC), rng)
    started, done = time.perf_counter(), 0
    while done < n:
        batch = [row for _, row in zip(range(min(COPY_BATCH, n - done)), rows, strict=False)]
        await conn.copy_records_to_table("clocks", records=batch, columns=COLUMNS)
        done += len(batch)
        if done % (4 * COPY_BATCH) == 0 or done == n:
            elapsed = time.perf_counter() - started
            say(f"  armed {done:>9,} clocks in {elapsed:6.1f}s ({done / elapsed:,.0f} rows/s)")
    return n / (time.perf_counter() - started)


def _poller_query(batch: int) -> tuple[str, list[Any]]:
    """The SQL fire_due_clocks sends (its own select), as asyncpg receives it: with bound parameters."""
    compiled = due_clocks(datetime.now(UTC), batch).compile(dialect=asyncpg_dialect.dialect())
    return compiled.string, [compiled.params[name] for name in compiled.positiontup or []]


async def explain(conn: asyncpg.Connection, batch: int) -> list[str]:
    """The poller's claim as planned for its values (custom plan) and for any values (generic plan)."""
    sql, params = _poller_query(batch)
    lines = ["EXPLAIN (ANALYZE, BUFFERS) of the poller's claim with nothing due (its steady state):"]
    tx = conn.transaction()
    await tx.start()
    try:
        plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params)
        await conn.execute(f"PREPARE poller_claim AS {sql}")
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        generic = await conn.fetch(f"EXPLAIN EXECUTE poller_claim(now(), {batch})")
        await conn.execute("DEALLOCATE poller_claim")
    finally:
        await tx.rollback()  # EXPLAIN ANALYZE ran the claim: let go of anything it locked
    lines += [f"    {r[0]}" for r in plan]
    lines += ["  its generic plan (what a prepared statement may switch to after 5 runs):"]
    lines += [f"    {r[0]}" for r in generic]
    if "ix_clocks_running_fire" not in "\n".join(r[0] for r in generic):
        lines.append(
            "  -> the generic plan does NOT use the partial index: a cached plan would scan the table"
        )
    uses = "ix_clocks_running_fire" in "\n".join(r[0] for r in plan)
    lines.insert(0, f"claim uses the partial index ix_clocks_running_fire: {'yes' if uses else 'NO'}")
    return lines


async def _timed_each(n: int, fn: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def idle_polls(rt: Runtime, conn: asyncpg.Connection, batch: int, n: int) -> tuple[float, float]:
    """Mean seconds of one poll that finds nothing due: the real unit of work vs the raw claim."""
    deps = rt.state["deps"]

    async def ours() -> None:
        async with rt.unit_of_work() as session:
            await fire_due_clocks(SlaUnitOfWork(session, deps.outbox), deps, limit=batch)

    async def raw() -> None:
        async with conn.transaction():
            await conn.fetch(RAW_CLAIM, batch)

    return statistics.mean(await _timed_each(n, ours)), statistics.mean(await _timed_each(n, raw))


async def claim_plans(rt: Runtime) -> str:
    """How PostgreSQL has been planning the poller's prepared claim on its pooled connection."""
    async with rt.unit_of_work() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE '%FROM clocks%FOR UPDATE SKIP LOCKED%' "
                    "AND statement NOT LIKE '%pg_prepared_statements%'"
                )
            )
        ).all()
    return ", ".join(f"generic {g} / custom {c}" for g, c in rows) or "not prepared on this connection"


async def burst_raw(
    conn: asyncpg.Connection, n: int, batch: int, idle: float
) -> tuple[list[float], list[float]]:
    """A bare claim-and-update loop shaped like poll_in_batches; (stamped, visible) lateness per clock."""
    due = datetime.now(UTC) + DUE_IN
    await conn.copy_records_to_table("clocks", records=_due_clocks(n, due), columns=COLUMNS)
    stamped: list[float] = []
    visible: list[float] = []
    while len(stamped) < n:
        async with conn.transaction():
            claimed = await conn.fetch(RAW_CLAIM, batch)
            if claimed:
                await conn.execute(RAW_MARK, [r["id"] for r in claimed])
        committed = datetime.now(UTC)
        stamped += [(r["claimed_at"] - r["due_at"]).total_seconds() for r in claimed]
        visible += [(committed - r["due_at"]).total_seconds() for r in claimed]
        if len(claimed) < batch:
            await asyncio.sleep(idle)
    return stamped, visible


async def burst_ours(rt: TimedRuntime, conn: asyncpg.Connection, n: int) -> tuple[list[float], list[float]]:
    """The service's own timer worker over an equal burst; lateness read back from the clock rows."""
    due = datetime.now(UTC) + DUE_IN
    burst = _due_clocks(n, due)
    await conn.copy_records_to_table("clocks", records=burst, columns=COLUMNS)
    before = await conn.fetchval("SELECT count(*) FROM outbox")
    rt.commits.clear()
    worker = asyncio.create_task(workers.fire_timers(rt))
    try:
        while await conn.fetchval("SELECT count(*) FROM outbox") < before + n:  # one sla.breached each
            if worker.done():
                worker.result()
            await asyncio.sleep(0.1)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    rows = await conn.fetch(
        "SELECT due_at, stopped_at, state FROM clocks WHERE id = ANY($1::uuid[])", [r[0] for r in burst]
    )
    assert all(r["state"] == ClockState.BREACHED.value for r in rows), "every clock of the burst breached"
    commits = sorted(rt.commits)
    # One worker, one transaction at a time: a clock stamped at t was committed by the first commit after t.
    stamped = [(r["stopped_at"] - r["due_at"]).total_seconds() for r in rows]
    visible = [
        (commits[bisect.bisect_left(commits, r["stopped_at"])] - r["due_at"]).total_seconds() for r in rows
    ]
    return stamped, visible


async def main_async(url: str, clocks: int, burst: int, poll: float, batch: int) -> list[str]:
    migrations.upgrade(MIGRATIONS, url)
    root = Path(tempfile.mkdtemp(prefix="tierline-bench-sla-"))
    settings = Settings(
        database_url=url,
        config_dir=root,
        timer_poll_seconds=poll,
        timer_batch_size=batch,
        log_level="WARNING",
    )
    rt = TimedRuntime(build_spec(settings))
    conn = await _connect(url)
    try:
        # Both pollers already run when the clocks arrive, as in a live service (warm prepared statements).
        await idle_polls(rt, conn, batch, 10)
        say(f"arming {clocks:,} clocks with COPY, {COPY_BATCH:,} a batch")
        rate = await asyncio.wait_for(arm(conn, clocks), PHASE_LIMIT_SECONDS)
        idle_before = await idle_polls(rt, conn, batch, IDLE_POLLS)
        plans_before = await claim_plans(rt)
        say("ANALYZE clocks")
        await conn.execute("ANALYZE clocks")
        idle_after = await idle_polls(rt, conn, batch, IDLE_POLLS)
        plans_after = await claim_plans(rt)
        plan = await explain(conn, batch)
        say(f"burst of {burst:,} clocks falling due together: raw claim-and-update loop")
        raw = await asyncio.wait_for(burst_raw(conn, burst, batch, poll), PHASE_LIMIT_SECONDS)
        say(f"burst of {burst:,} clocks falling due together: the service's timer worker")
        ours = await asyncio.wait_for(burst_ours(rt, conn, burst), PHASE_LIMIT_SECONDS)
        size = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size('ix_clocks_running_fire'))")
        running = await conn.fetchval("SELECT count(*) FROM clocks WHERE state = 'running'")
    finally:
        await conn.close()
        await rt.engine.dispose()
        shutil.rmtree(root, ignore_errors=True)
    (rp50, rp99, rmax), (op50, op99, omax) = _quantiles(raw[1]), _quantiles(ours[1])
    (rs50, rs99, _), (os50, os99, _) = _quantiles(raw[0]), _quantiles(ours[0])
    verdict = "met" if op99 <= TARGET_P99_SECONDS else "MISSED"
    return [
        f"armed {clocks:,} clocks at {rate:,.0f} rows/s (COPY, all indexes); {running:,} running at the end;"
        f" ix_clocks_running_fire {size}",
        f"poller: batch {batch}, idle {poll}s; burst of {burst:,} clocks due at the same instant",
        "idle poll (nothing due), mean per poll:",
        _ratio_line("right after arming (no ANALYZE)", idle_before[0] * 1000, idle_before[1] * 1000, "ms"),
        _ratio_line("after ANALYZE", idle_after[0] * 1000, idle_after[1] * 1000, "ms"),
        f"  the service's prepared claim, plans so far: {plans_before} (after arming);"
        f" {plans_after} (after ANALYZE)",
        "breach lateness, visible (commit - due_at):",
        _ratio_line("p50", op50, rp50),
        _ratio_line("p99", op99, rp99),
        _ratio_line("max", omax, rmax),
        "breach lateness, stamped (breached_at - due_at):",
        _ratio_line("p50", os50, rs50),
        _ratio_line("p99", os99, rs99),
        f"target: p99 visible lateness <= {TARGET_P99_SECONDS:.0f} s with {clocks:,} armed: {verdict}"
        f" (p99 {op99:.3f} s)",
        *plan,
    ]


@contextlib.contextmanager
def postgres() -> Iterator[PostgresServer | ExternalPostgres]:
    """The launcher's PostgreSQL (or TIERLINE_DATABASE_URL's); this bench needs no Kafka."""
    external = os.environ.get("TIERLINE_DATABASE_URL")
    if external:
        yield ExternalPostgres(external)
        return
    root = Path(tempfile.mkdtemp(prefix="tierline-bench-"))
    os.chmod(root, 0o755)
    server = PostgresServer(root / "postgres", durable=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clocks", type=int, default=1_000_000, help="clocks armed (max 2,000,000)")
    parser.add_argument("--burst", type=int, default=2000, help="clocks falling due together (max 20,000)")
    parser.add_argument("--poll-seconds", type=float, default=0.1, help="the poller's idle wait")
    parser.add_argument(
        "--batch", type=int, default=Settings().timer_batch_size, help="clocks claimed a batch"
    )
    args = parser.parse_args()
    clocks, burst = max(1000, min(args.clocks, 2_000_000)), max(100, min(args.burst, 20_000))
    started = time.perf_counter()
    with postgres() as server:
        url = server.url(f"bench_sla_{uuid.uuid4().hex[:6]}")
        server.create_database(make_url(url).database or "")
        lines = asyncio.run(main_async(url, clocks, burst, args.poll_seconds, args.batch))
    print(
        f"\nTierline SLA timer benchmark (ratio = Tierline / raw asyncpg claim, same server, same run;"
        f" {time.perf_counter() - started:.0f}s)"
    )
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
