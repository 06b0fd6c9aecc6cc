"""make bench: the whole pipeline under load — Kafka, PostgreSQL and the five services as processes.

Starts the stack as `make run` does (fsync on, the repository's deploy/config, the notifier mailing an
SMTP server in this process that accepts and counts every message, a link secret shared by intake and
the notifier), on free loopback ports, and measures in one run, each figure beside a baseline taken
on the same machine and run:

1. intake ``POST /v1/incidents``, 16 connections, closed loop, against a pgbench-like raw asyncpg
   loop on the same PostgreSQL server with the same transaction shape (incident row + outbox row +
   timeline row, 16 connections) in a database with intake's own schema;
2. Alertmanager v4 webhooks of 100 alerts (4 connections) to intake's receiver, against the
   Debian ``prometheus-alertmanager`` binary's own ``/api/v2/alerts`` (16 connections, one alert
   a POST); the package is installed with apt-get when missing and root (or sudo -n) allows;
3. the sustained end-to-end rate: the incidents of (1) until each is assigned, its clocks armed
   and all of it visible in intake's read model (its database, polled);
4. p50/p99 POST -> ``incident.assigned`` seen on Kafka (a consumer on the routing topic started
   before the load) at 50, 100 and 200 incidents/s offered open loop (latency counted from each
   request's scheduled time, so a saturated system shows it instead of slowing the offer);
5. CPU ms per incident per process (/proc/<pid>/stat over phase 1+3) and each service's RSS
   (/proc/<pid>/status) idle, after the load, and at its peak.

The baselines run first, on an idle stack; the alert storm runs last (it leaves minutes of routing
behind). Every phase is bounded in time and count; the whole run stays within ~5 minutes (``--quick``:
~90 s). Every process started here is stopped at the end, also on Ctrl-C or an error.

    python -m tests.bench.pipeline [--quick] [--rates 50 100 200] [--rate-seconds S] [--post-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from tests.support.mailbox import SmtpSink
from tests.support.postgres import connect_args
from tierline_launcher.procs import ManagedProcess, free_port, say, wait_until
from tierline_launcher.system import SERVICES, Infra, Services
from tierline_shared import migrations
from tierline_shared.events import Envelope, IncidentCreated, topics
from tierline_shared.messaging import cloudevents

ROOT = Path(__file__).resolve().parents[2]
INTAKE_MIGRATIONS = ROOT / "services" / "intake" / "migrations"
ADMIN_KEY = "tl_bench-" + secrets.token_urlsafe(24)
ASSIGNED = "tierline.incident.assigned.v1"
CLOCKS = ("response", "resolution", "tier")  # armed on incident.created (2) and incident.assigned (1)
MAX_INCIDENTS = 20_000  # per phase, whatever the durations say
AM_BATCH = 100
AM_CONNECTIONS = 4
AM_REAL_CONNECTIONS = 16
RATE_LIMIT = 1_000_000_000  # requests are still counted (as deployed), never refused
SERVICE_NAMES = tuple(s.name for s in SERVICES)
ALERTMANAGER = "prometheus-alertmanager"
EXTRA_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin")
SERVICES_ = ("vpn", "email", "payments", "crm", "storage")
CATEGORIES = ("network", "software", "hardware", "access")
LEVELS = ("low", "medium", "high")


# -- options --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    quick: bool
    connections: int
    pg_seconds: float
    post_seconds: float
    drain_seconds: float
    rates: tuple[int, ...]
    rate_seconds: float
    grace_seconds: float
    level_drain_seconds: float
    am_seconds: float
    am_real_seconds: float
    fsync: bool
    install: bool


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="short phases: the whole run in ~90 s")
    parser.add_argument("--connections", type=int, default=16, help="closed-loop POST connections")
    parser.add_argument("--pg-seconds", type=float, help="raw PostgreSQL baseline (default 5, quick 2)")
    parser.add_argument("--post-seconds", type=float, help="closed-loop POSTs (default 15, quick 4)")
    parser.add_argument(
        "--drain-seconds", type=float, help="longest wait for them end to end (default 60, quick 10)"
    )
    parser.add_argument("--rates", type=int, nargs="+", default=[50, 100, 200], help="open-loop rates/s")
    parser.add_argument("--rate-seconds", type=float, help="offer at each rate (default 10, quick 3)")
    parser.add_argument(
        "--grace-seconds", type=float, help="wait for assignments after the offer (default 8, quick 3)"
    )
    parser.add_argument(
        "--level-drain-seconds",
        type=float,
        help="longest wait for a backlog before each rate (default 15, quick 4; twice before the webhooks)",
    )
    parser.add_argument("--am-seconds", type=float, help="Alertmanager webhooks (default 8, quick 3)")
    parser.add_argument(
        "--am-real-seconds", type=float, help="the real Alertmanager's ingest (default 5, quick 2)"
    )
    parser.add_argument(
        "--no-fsync", action="store_true", help="PostgreSQL without fsync (as the tests run it)"
    )
    parser.add_argument(
        "--no-install", action="store_true", help=f"do not apt-get install {ALERTMANAGER} when missing"
    )
    args = parser.parse_args(argv)
    q = args.quick

    def pick(value: float | None, default: float, quick: float, top: float) -> float:
        return max(0.5, min(value if value is not None else (quick if q else default), top))

    return Options(
        quick=q,
        connections=max(1, min(args.connections, 256)),
        pg_seconds=pick(args.pg_seconds, 5, 2, 60),
        post_seconds=pick(args.post_seconds, 15, 4, 120),
        drain_seconds=pick(args.drain_seconds, 60, 10, 300),
        rates=tuple(max(1, min(r, 2000)) for r in args.rates),
        rate_seconds=pick(args.rate_seconds, 10, 3, 60),
        grace_seconds=pick(args.grace_seconds, 8, 3, 60),
        level_drain_seconds=pick(args.level_drain_seconds, 15, 4, 120),
        am_seconds=pick(args.am_seconds, 8, 3, 60),
        am_real_seconds=pick(args.am_real_seconds, 5, 2, 60),
        fsync=not args.no_fsync,
        install=not args.no_install,
    )


# -- results and the summary ----------------------------------------------------------------------


@dataclass
class Latency:
    rate: int
    offered: int
    posted: int = 0
    assigned: int = 0
    backlog_before: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    post_p50_ms: float | None = None
    post_p99_ms: float | None = None

    achieved: float | None = None  # assigned / (last assignment seen - first scheduled send)

    @property
    def saturated(self) -> bool:
        """It did not keep up: some were not assigned in time, or fewer a second than offered."""
        slow = self.achieved is not None and self.achieved < 0.9 * self.rate
        return self.assigned < 0.99 * self.offered or slow


@dataclass
class Usage:
    name: str
    cpu_ms_per_incident: float | None = None
    net_cpu_ms_per_incident: float | None = None
    idle_cpu_ms_per_s: float | None = None
    rss_idle_mb: float | None = None
    rss_after_mb: float | None = None
    rss_peak_mb: float | None = None


@dataclass
class Results:
    quick: bool = False
    fsync: bool = True
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    startup_s: float | None = None
    pg_tx_per_s: float | None = None
    post_per_s: float | None = None
    post_count: int = 0
    post_errors: int = 0
    e2e_offered: int = 0
    e2e_visible: int = 0
    e2e_seconds: float | None = None
    e2e_stages: str = ""
    e2e_p50_s: float | None = None
    e2e_p99_s: float | None = None
    latencies: list[Latency] = field(default_factory=list)
    am_ours: float | None = None
    am_real: float | None = None
    am_ours_cpu_ms: float | None = None
    am_backlog: int = 0
    am_note: str = ""
    usage: dict[str, Usage] = field(default_factory=dict)
    mails: int | None = None  # messages the run's SMTP server accepted from the notifier
    notes: list[str] = field(default_factory=list)
    elapsed_s: float | None = None

    @property
    def e2e_per_s(self) -> float | None:
        if not self.e2e_seconds or not self.e2e_visible:
            return None
        return self.e2e_visible / self.e2e_seconds


def _num(value: float | None, spec: str = ",.0f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _ratio(ours: float | None, baseline: float | None) -> str:
    if ours is None or not baseline:
        return "n/a"
    return f"{ours / baseline:.2f}"


def _load(load: tuple[float, float, float] | None) -> str:
    return "?" if load is None else " ".join(f"{x:.2f}" for x in load)


def summary_lines(r: Results) -> list[str]:
    """The final table: every figure of the run, ratios where there is a baseline."""
    mode = "quick" if r.quick else "full"
    lines = [
        f"Tierline pipeline benchmark ({mode}; PostgreSQL fsync {'on' if r.fsync else 'off'};"
        f" load average before {_load(r.load_before)}, after {_load(r.load_after)};"
        f" stack started in {_num(r.startup_s, '.0f', '?')}s; run {_num(r.elapsed_s, '.0f', '?')}s)",
        f"{'measure':<46} {'Tierline':>12} {'baseline':>12} {'ratio':>6}  baseline",
        f"{'intake POST /v1/incidents, closed loop (/s)':<46} {_num(r.post_per_s, ',.1f'):>12}"
        f" {_num(r.pg_tx_per_s, ',.0f'):>12} {_ratio(r.post_per_s, r.pg_tx_per_s):>6}"
        "  raw asyncpg, same tx shape & server",
        f"{'Alertmanager webhooks x100, 4 conns (alerts/s)':<46} {_num(r.am_ours, ',.1f'):>12}"
        f" {_num(r.am_real):>12} {_ratio(r.am_ours, r.am_real):>6}  prometheus-alertmanager /api/v2/alerts",
    ]
    e2e = r.e2e_per_s
    complete = r.e2e_offered and r.e2e_visible >= r.e2e_offered
    lines.append(
        f"{'sustained end to end, visible in read model (/s)':<46} {_num(e2e, ',.1f'):>12}"
        f" {_num(r.post_per_s, ',.1f'):>12} {_ratio(e2e, r.post_per_s):>6}  intake's own POST rate"
    )
    lines.append(
        "  (not measured)"
        if not r.e2e_offered
        else f"  {r.e2e_visible:,} of {r.e2e_offered:,} incidents visible"
        f"{'' if complete else ' (INCOMPLETE within the bound)'} in {_num(r.e2e_seconds, '.1f', '?')}s;"
        f" POST -> visible p50 {_num(r.e2e_p50_s, '.2f')}s p99 {_num(r.e2e_p99_s, '.2f')}s"
        + (f"; {r.e2e_stages}" if r.e2e_stages else "")
    )
    if r.post_errors:
        lines.append(f"  intake answered {r.post_errors:,} POSTs with an error or not in time")
    if r.am_ours_cpu_ms is not None:
        lines.append(
            f"  intake: {r.am_ours_cpu_ms:.2f} CPU ms an alert (its own process only);"
            f" {r.am_backlog:,} incidents of earlier phases were still being routed at its start"
        )
    if r.am_note:
        lines.append(f"  alertmanager: {r.am_note}")
    lines.append("POST -> incident.assigned seen on Kafka, open loop (latency from each scheduled send):")
    lines.append(
        f"  {'offered/s':>9} {'offered':>8} {'posted':>7} {'assigned':>8} {'assigned/s':>10}"
        f" {'p50 ms':>9} {'p99 ms':>9}"
        f" {'POST p50':>9} {'POST p99':>9}  backlog before"
    )
    for lat in r.latencies:
        lines.append(
            f"  {lat.rate:>9} {lat.offered:>8,} {lat.posted:>7,} {lat.assigned:>8,}"
            f" {_num(lat.achieved, ',.1f'):>10} {_num(lat.p50_ms):>9}"
            f" {_num(lat.p99_ms):>9} {_num(lat.post_p50_ms):>9} {_num(lat.post_p99_ms):>9}"
            f"  {lat.backlog_before:>6,}{'   saturated' if lat.saturated else ''}"
        )
    if not r.latencies:
        lines.append("  (not measured)")
    if r.mails is not None:
        lines.append(f"notifier: {r.mails:,} emails accepted by the run's SMTP server")
    lines.append("per process: CPU over the closed-loop POSTs until all were visible, per incident; RSS")
    lines.append(
        f"  {'process':<15} {'CPU ms/incident':>15} {'net of idle':>11} {'idle CPU ms/s':>13}"
        f" {'RSS idle MB':>11} {'after MB':>9} {'peak MB':>8}"
    )
    services = [u for u in r.usage.values() if u.name in SERVICE_NAMES]
    total = sum(u.cpu_ms_per_incident or 0.0 for u in services)
    net = sum(u.net_cpu_ms_per_incident or 0.0 for u in services)
    for u in r.usage.values():
        lines.append(
            f"  {u.name:<15} {_num(u.cpu_ms_per_incident, ',.1f'):>15}"
            f" {_num(u.net_cpu_ms_per_incident, ',.1f'):>11}"
            f" {_num(u.idle_cpu_ms_per_s, ',.1f'):>13} {_num(u.rss_idle_mb):>11}"
            f" {_num(u.rss_after_mb):>9} {_num(u.rss_peak_mb):>8}"
        )
    if r.usage:
        lines.append(f"  {'all services':<15} {total:>15,.1f} {net:>11,.1f}")
    lines += [f"note: {n}" for n in r.notes]
    return lines


# -- processes ------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and every live descendant (PostgreSQL's backends are children)."""
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        p = todo.pop()
        todo += tree.get(p, [])
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of one process in MB."""
    values = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def find_binary(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_DIRS]))


def alertmanager_binary(install: bool) -> tuple[str | None, str]:
    """The Debian binary, installed the way deploy/scripts/install-system-packages.sh installs packages."""
    found = find_binary(ALERTMANAGER)
    if found or not install:
        return found, "" if found else f"{ALERTMANAGER} is not installed (--no-install given)"
    if not find_binary("apt-get"):
        return None, f"{ALERTMANAGER} is missing and there is no apt-get here to install it"
    as_root: list[str] = []
    if os.geteuid() != 0:
        sudo = find_binary("sudo")
        if not sudo or subprocess.run([sudo, "-n", "true"], capture_output=True).returncode != 0:
            return None, f"{ALERTMANAGER} is missing; not root and no password-less sudo to install it"
        as_root = [sudo, "-n"]
    say(f"installing {ALERTMANAGER} with apt-get (once; outside the timed phases)")
    env = [*as_root, "env", "DEBIAN_FRONTEND=noninteractive"]
    try:
        for argv in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ALERTMANAGER],
        ):
            done = subprocess.run([*env, *argv], capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
                return None, f"{ALERTMANAGER} could not be installed: {' '.join(argv)}: {tail[0]}"
    except subprocess.TimeoutExpired:
        return None, f"{ALERTMANAGER} could not be installed: apt-get took over 300 s"
    found = find_binary(ALERTMANAGER)
    return found, "" if found else f"{ALERTMANAGER} was installed but its binary is not on the PATH"


# -- load -----------------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float, scale: float = 1.0) -> float | None:
    """The q-quantile (0.5, 0.99...) of ``values`` times ``scale``; None when there are none."""
    if not values:
        return None
    if len(values) == 1:
        return values[0] * scale
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1] * scale


def incident_body(i: int) -> dict[str, Any]:
    return {
        "title": f"bench incident {i}: checkout latency above threshold",
        "description": "Raised by the pipeline benchmark. " * 4,
        "service": SERVICES_[i % len(SERVICES_)],
        "category": CATEGORIES[i % len(CATEGORIES)],
        "impact": LEVELS[i % 3],
        "urgency": LEVELS[(i // 3) % 3],
        "channel": "api",
        "reporter": "bench@example.com",
    }


def alert(i: int, run: str, now: str) -> dict[str, Any]:
    """One alert, unique in the run (its own fingerprint): an alert storm is made of distinct alerts."""
    return {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "severity": ("critical", "warning", "info")[i % 3],
            "service": SERVICES_[i % len(SERVICES_)],
            "instance": f"node-{i}",
            "run": run,
        },
        "annotations": {"summary": f"5xx above 5% on node-{i}", "description": "bench"},
        "startsAt": now,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": f"{run}{i:012x}",
    }


def webhook(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tierline",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "alerts": alerts,
    }


class AssignedWatcher:
    """A consumer of the routing topic (no group, from the start): when each incident.assigned arrived."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: Any = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    headers = {k: v for k, v in record.headers or ()}
                    if headers.get("ce_type") != ASSIGNED.encode():
                        continue
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        self.seen.setdefault(json.loads(record.value)["incident_id"], now)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()


VISIBLE_SQL = """
SELECT i.id FROM incidents i
WHERE i.id = ANY($1::uuid[]) AND i.queue IS NOT NULL
  AND (SELECT count(DISTINCT s.clock) FROM incident_sla s
       WHERE s.incident_id = i.id AND s.clock = ANY($2::text[])) = cardinality($2::text[])
"""
STAGES_SQL = """
SELECT count(*) AS created,
       count(*) FILTER (WHERE i.queue IS NOT NULL) AS assigned,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incident_sla s
                                      WHERE s.incident_id = i.id AND s.clock = 'resolution')) AS armed
FROM incidents i WHERE i.id = ANY($1::uuid[])
"""

# What a POST may end with besides an answer: the bench counts it and goes on.
FAILURES = (TimeoutError, OSError, ValueError, aiohttp.ClientError)
BACKLOG_SQL = "SELECT count(*) FROM incidents WHERE queue IS NULL AND status = 'open'"


async def wait_visible(conn: Any, posted: dict[str, float], deadline: float) -> dict[str, float]:
    """Poll intake's read model until every posted incident is assigned with its clocks, or the deadline."""
    remaining = {uuid.UUID(i) for i in posted}
    visible: dict[str, float] = {}
    while remaining and time.perf_counter() < deadline:
        rows = await conn.fetch(VISIBLE_SQL, list(remaining), list(CLOCKS))
        now = time.perf_counter()
        for row in rows:
            visible[str(row["id"])] = now
            remaining.discard(row["id"])
        if remaining:
            await asyncio.sleep(0.2)
    return visible


class Bench:
    """The phases, on a running stack; every figure lands in ``results`` as soon as it is known."""

    def __init__(
        self,
        opts: Options,
        results: Results,
        *,
        intake_url: str,
        bootstrap: str,
        read_model_dsn: dict[str, Any],
        baseline_dsn: dict[str, Any],
        pids: dict[str, int],
        alertmanager: Callable[[], tuple[ManagedProcess, str, str] | None],
    ) -> None:
        self.opts, self.results = opts, results
        self.intake = intake_url
        self.bootstrap = bootstrap
        self.read_model_dsn, self.baseline_dsn = read_model_dsn, baseline_dsn
        self.pids = pids
        self.alertmanager = alertmanager
        self.run_id = uuid.uuid4().hex[:8]
        self.alerts = iter(range(10**9))  # every alert of the run is a new one
        self.n = 0
        self.headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    async def post(self, http: Any) -> str | None:
        """One incident; its id, or None when intake did not create it."""
        self.n += 1
        async with http.post(
            f"{self.intake}/v1/incidents", json=incident_body(self.n), headers=self.headers
        ) as resp:
            body = await resp.read()
            if resp.status != 201:
                return None
        incident_id: str = json.loads(body)["id"]
        return incident_id

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=max(64, self.opts.connections))
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            watcher = AssignedWatcher(self.bootstrap, topics.ROUTING)
            await watcher.start()
            try:
                key = await self.integration(http)
                await self.warm_up(http, watcher)
                await self.idle()
                # The baselines first, on an idle stack (nothing routed meanwhile takes their CPU).
                await self.pg_baseline()
                await self.real_alertmanager()
                await self.closed_loop(http)
                await self.open_loops(watcher)
                # Last: an alert storm leaves minutes of routing behind it.
                self.results.am_backlog = await self.drain(2 * self.opts.level_drain_seconds)
                await self.alertmanager_webhooks(http, key)
            finally:
                await watcher.stop()
                for name in SERVICE_NAMES:  # after the load (or as far as it went)
                    usage = self.results.usage.setdefault(name, Usage(name))
                    usage.rss_after_mb, usage.rss_peak_mb = memory_mb(self.pids[name])

    async def integration(self, http: Any) -> str:
        body = {"type": "alertmanager", "name": f"bench-{self.run_id}", "service": "payments"}
        async with http.post(f"{self.intake}/v1/integrations", json=body, headers=self.headers) as resp:
            resp.raise_for_status()
            key: str = (await resp.json())["key"]
            return key

    async def warm_up(self, http: Any, watcher: AssignedWatcher) -> None:
        """A few incidents through the whole pipeline: every consumer has joined its group after this."""
        say("warming up: 20 incidents through the pipeline (consumers join their groups)")
        ids = {
            i: time.perf_counter() for i in await asyncio.gather(*(self.post(http) for _ in range(20))) if i
        }
        conn = await asyncpg.connect(**self.read_model_dsn)
        try:
            visible = await wait_visible(conn, ids, time.perf_counter() + 90)
        finally:
            await conn.close()
        if len(visible) < len(ids):
            raise RuntimeError(f"warm-up: only {len(visible)} of {len(ids)} incidents went through in 90 s")
        say(f"warm-up done: {len(visible)} incidents assigned with clocks; {len(watcher.seen)} seen")

    async def idle(self) -> None:
        window = 2.0 if self.opts.quick else 3.0
        before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        await asyncio.sleep(window)
        for name, pid in self.pids.items():
            usage = self.results.usage.setdefault(name, Usage(name))
            usage.idle_cpu_ms_per_s = (cpu_seconds(pid) - before[name]) * 1000 / window
            if name in SERVICE_NAMES:
                usage.rss_idle_mb = memory_mb(pid)[0]

    async def pg_baseline(self) -> None:
        """16 asyncpg connections, each: BEGIN; incident row; outbox row; timeline row; COMMIT."""
        now = datetime.now(UTC)
        event = IncidentCreated(
            incident_id=uuid.uuid4(),
            title="bench incident: checkout latency above threshold",
            description="Raised by the pipeline benchmark. " * 4,
            service="payments",
            category="software",
            priority="P2",
            impact="high",
            urgency="medium",
            channel="api",
            reporter="bench@example.com",
            created_at=now,
        )
        record = cloudevents.encode(Envelope(data=event, source="/tierline/intake"))
        headers = json.dumps([[k, v.decode()] for k, v in record.headers])
        incident_sql = (
            "INSERT INTO incidents (id, title, description, service, category, impact, urgency, priority,"
            " priority_source, channel, reporter, status, created_at, updated_at, occurrences, reopen_count,"
            " knowledge, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'matrix', 'api', $9, 'open', $10,"
            " $10, 1, 0, '[]'::jsonb, '{}'::jsonb)"
        )
        outbox_sql = (
            "INSERT INTO outbox (event_id, topic, key, event_type, headers, value)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, $6)"
        )
        timeline_sql = (
            "INSERT INTO timeline (incident_id, at, kind, summary, source, event_id, data)"
            " VALUES ($1, $2, 'created', 'Created via api by bench@example.com as P2 (matrix)', 'intake', $3,"
            ' \'{"priority": "P2", "priority_source": "matrix"}\'::jsonb)'
        )
        conns = [await asyncpg.connect(**self.baseline_dsn) for _ in range(self.opts.connections)]
        count = 0
        deadline = time.perf_counter() + self.opts.pg_seconds

        async def worker(conn: Any) -> None:
            nonlocal count
            while time.perf_counter() < deadline and count < MAX_INCIDENTS * 10:
                incident_id, event_id, at = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
                async with conn.transaction():
                    await conn.execute(
                        incident_sql,
                        incident_id,
                        event.title,
                        event.description,
                        event.service,
                        event.category,
                        event.impact,
                        event.urgency,
                        event.priority,
                        event.reporter,
                        at,
                    )
                    await conn.execute(
                        outbox_sql,
                        event_id,
                        record.topic,
                        str(incident_id),
                        event.event_type,
                        headers,
                        record.value,
                    )
                    await conn.execute(timeline_sql, incident_id, at, event_id)
                count += 1

        say(f"raw PostgreSQL: {self.opts.connections} asyncpg connections, {self.opts.pg_seconds:.0f}s")
        started = time.perf_counter()
        try:
            await asyncio.gather(*(worker(c) for c in conns))
        finally:
            for c in conns:
                await c.close()
        elapsed = time.perf_counter() - started
        self.results.pg_tx_per_s = count / elapsed
        say(f"  {count:,} transactions in {elapsed:.1f}s: {count / elapsed:,.0f} tx/s")

    async def closed_loop(self, http: Any) -> None:
        """Phase 1 and 3: POSTs as fast as intake answers them, then the wait until all are visible."""
        opts, results = self.opts, self.results
        posted: dict[str, float] = {}
        errors = 0
        cpu_before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu_from = time.perf_counter()
        say(
            f"intake POST /v1/incidents: {opts.connections} connections, closed loop,"
            f" {opts.post_seconds:.0f}s"
        )
        started = time.perf_counter()
        deadline = started + opts.post_seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline and len(posted) + errors < MAX_INCIDENTS:
                sent = time.perf_counter()
                try:
                    incident_id = await self.post(http)
                except FAILURES as exc:
                    errors += 1
                    results.notes.append(f"a POST failed: {type(exc).__name__}: {exc}"[:200])
                    continue
                if incident_id is None:
                    errors += 1
                else:
                    posted[incident_id] = sent

        await asyncio.gather(*(worker() for _ in range(opts.connections)))
        elapsed = time.perf_counter() - started
        results.post_per_s, results.post_count, results.post_errors = (
            len(posted) / elapsed,
            len(posted),
            errors,
        )
        results.e2e_offered = len(posted)
        say(f"  {len(posted):,} created in {elapsed:.1f}s: {len(posted) / elapsed:,.1f}/s ({errors} errors)")
        say(
            f"end to end: waiting up to {opts.drain_seconds:.0f}s until all are visible"
            " in intake's read model"
        )
        conn = await asyncpg.connect(**self.read_model_dsn)
        try:
            visible = await wait_visible(conn, posted, time.perf_counter() + opts.drain_seconds)
            stages = await conn.fetchrow(STAGES_SQL, [uuid.UUID(i) for i in posted])
        finally:
            await conn.close()
        done = max(visible.values()) if visible else time.perf_counter()
        results.e2e_visible, results.e2e_seconds = len(visible), done - started
        results.e2e_stages = (
            f"at the end {stages['created']:,} created, {stages['assigned']:,} assigned,"
            f" {stages['armed']:,} with clocks armed"
        )
        waits = sorted(visible[i] - posted[i] for i in visible)
        results.e2e_p50_s, results.e2e_p99_s = quantile(waits, 0.5), quantile(waits, 0.99)
        cpu_after = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        window, per = time.perf_counter() - cpu_from, max(1, len(posted))
        for name in self.pids:
            usage = results.usage.setdefault(name, Usage(name))
            usage.cpu_ms_per_incident = (cpu_after[name] - cpu_before[name]) * 1000 / per
            if usage.idle_cpu_ms_per_s is not None:  # what it burns doing nothing, over the same window
                net = usage.cpu_ms_per_incident - usage.idle_cpu_ms_per_s * window / per
                usage.net_cpu_ms_per_incident = max(0.0, net)
        say(
            f"  {len(visible):,} of {len(posted):,} visible after {results.e2e_seconds:.1f}s:"
            f" {results.e2e_per_s or 0:,.1f}/s end to end"
        )

    async def drain(self, bound: float) -> int:
        """Wait (bounded) until intake holds no incident still unassigned; the backlog left.

        Read from intake's database: it also counts incidents of POSTs the client gave up on."""
        conn = await asyncpg.connect(**self.read_model_dsn)
        try:
            deadline = time.perf_counter() + bound
            while True:
                backlog = await conn.fetchval(BACKLOG_SQL)
                if not backlog or time.perf_counter() >= deadline:
                    break
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
        return int(backlog)

    async def open_loops(self, watcher: AssignedWatcher) -> None:
        for rate in self.opts.rates:
            backlog = await self.drain(self.opts.level_drain_seconds)
            offered = min(MAX_INCIDENTS, max(1, round(rate * self.opts.rate_seconds)))
            lat = Latency(rate=rate, offered=offered, backlog_before=backlog)
            self.results.latencies.append(lat)
            say(
                f"open loop at {rate}/s: {offered:,} incidents over {self.opts.rate_seconds:.0f}s"
                f" (+{self.opts.grace_seconds:.0f}s for the last assignments; backlog before: {backlog:,})"
            )
            # Its own pool: in-flight requests queue here when intake falls behind (counted in the latency).
            connector = aiohttp.TCPConnector(limit=64)
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None), connector=connector
            ) as http:
                await self.open_loop(http, watcher, lat)

    async def open_loop(self, http: Any, watcher: AssignedWatcher, lat: Latency) -> None:
        scheduled: dict[str, float] = {}
        post_waits: list[float] = []
        start = time.perf_counter() + 0.1

        async def one(at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            with contextlib.suppress(*FAILURES):
                incident_id = await self.post(http)
                if incident_id:
                    post_waits.append(time.perf_counter() - at)
                    scheduled[incident_id] = at

        tasks = [asyncio.create_task(one(start + i / lat.rate)) for i in range(lat.offered)]
        end = start + lat.offered / lat.rate + self.opts.grace_seconds
        try:
            while time.perf_counter() < end:
                if all(t.done() for t in tasks) and scheduled.keys() <= watcher.seen.keys():
                    break
                await asyncio.sleep(0.1)
        finally:  # the bound reached, or interrupted: what is still queued or in flight is given up
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        waits = [
            watcher.seen[i] - at
            for i, at in scheduled.items()
            if i in watcher.seen and watcher.seen[i] <= end
        ]
        lat.posted, lat.assigned = len(scheduled), len(waits)
        last = max(
            (watcher.seen[i] for i in scheduled if i in watcher.seen and watcher.seen[i] <= end), default=0
        )
        lat.achieved = len(waits) / (last - start) if last > start else None
        lat.p50_ms, lat.p99_ms = quantile(waits, 0.5, 1000), quantile(waits, 0.99, 1000)
        lat.post_p50_ms, lat.post_p99_ms = quantile(post_waits, 0.5, 1000), quantile(post_waits, 0.99, 1000)
        say(
            f"  posted {lat.posted:,}, assigned {lat.assigned:,} of {lat.offered:,}"
            f" ({_num(lat.achieved, '.1f')}/s);"
            f" p50 {_num(lat.p50_ms)} ms, p99 {_num(lat.p99_ms)} ms{'  (saturated)' if lat.saturated else ''}"
        )

    async def real_alertmanager(self) -> None:
        """The baseline of the webhook phase: the Debian package's own ingest, one alert a POST."""
        opts, results = self.opts, self.results
        # Started from this thread, which it cannot outlive (PR_SET_PDEATHSIG follows the creating thread);
        # the loop waits the second it takes to be ready.
        started_am = self.alertmanager()
        if started_am is None:
            return
        proc, base, version = started_am
        say(
            f"the real Alertmanager: {AM_REAL_CONNECTIONS} connections, one alert a POST,"
            f" {opts.am_real_seconds:.0f}s"
        )
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        ok, bad = 0, 0
        try:
            connector = aiohttp.TCPConnector(limit=AM_REAL_CONNECTIONS)
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as am:
                deadline = time.perf_counter() + opts.am_real_seconds
                cpu0, am_cpu0, t0 = time.process_time(), cpu_seconds(proc.pid), time.perf_counter()

                async def real() -> None:
                    nonlocal ok, bad
                    while time.perf_counter() < deadline:
                        one = alert(next(self.alerts), self.run_id, now)
                        body = [{k: one[k] for k in ("labels", "annotations", "startsAt", "generatorURL")}]
                        async with am.post(f"{base}/api/v2/alerts", json=body) as resp:
                            await resp.read()
                            ok, bad = (ok + 1, bad) if resp.status == 200 else (ok, bad + 1)

                await asyncio.gather(*(real() for _ in range(AM_REAL_CONNECTIONS)))
                elapsed = time.perf_counter() - t0
                client_cpu = (time.process_time() - cpu0) / elapsed
                am_cpu = (cpu_seconds(proc.pid) - am_cpu0) * 1000 / max(1, ok)
        finally:
            proc.stop()
        results.am_real = ok / elapsed
        say(f"  {ok:,} alerts in {elapsed:.1f}s: {ok / elapsed:,.0f} alerts/s ({bad} refused)")
        results.am_note = (
            f"{version}: {am_cpu:.2f} CPU ms an alert; the Python client here used {client_cpu:.0%}"
            " of a core (near 100% would mean the client set the pace: then the baseline is a floor)"
        )

    async def alertmanager_webhooks(self, http: Any, key: str) -> None:
        """Alertmanager v4 webhooks of 100 distinct alerts to intake's receiver, 4 connections."""
        opts, results = self.opts, self.results
        say(
            f"Alertmanager webhooks of {AM_BATCH} alerts to intake: {AM_CONNECTIONS} connections,"
            f" {opts.am_seconds:.0f}s"
        )
        url = f"{self.intake}/v1/integrations/alertmanager/{key}"
        alerts, failed = 0, 0
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        intake_cpu0, started = cpu_seconds(self.pids["intake"]), time.perf_counter()
        deadline = started + opts.am_seconds

        async def ours() -> None:
            nonlocal alerts, failed
            while time.perf_counter() < deadline:
                payload = webhook([alert(next(self.alerts), self.run_id, now) for _ in range(AM_BATCH)])
                try:
                    async with http.post(url, json=payload) as resp:
                        await resp.read()
                        if resp.status == 200:
                            alerts += AM_BATCH
                        else:
                            failed += 1
                except FAILURES as exc:
                    failed += 1
                    results.notes.append(f"an Alertmanager webhook failed: {type(exc).__name__}: {exc}"[:200])

        await asyncio.gather(*(ours() for _ in range(AM_CONNECTIONS)))
        elapsed = time.perf_counter() - started
        results.am_ours = alerts / elapsed
        results.am_ours_cpu_ms = (cpu_seconds(self.pids["intake"]) - intake_cpu0) * 1000 / max(1, alerts)
        say(
            f"  {alerts:,} alerts in {elapsed:.1f}s: {alerts / elapsed:,.1f} alerts/s"
            f" ({failed} failed webhooks)"
        )
        if failed:
            results.notes.append(f"{failed} Alertmanager webhooks were refused by intake")


# -- the stack ------------------------------------------------------------------------------------


def _start_alertmanager(binary: str, root: Path) -> tuple[ManagedProcess, str, str]:
    """The real Alertmanager on a free loopback port, a temporary storage folder, no cluster gossip."""
    folder = root / "alertmanager"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "alertmanager.yml"
    # One receiver that sends nothing: only the ingest is measured. JSON is YAML.
    config.write_text(json.dumps({"route": {"receiver": "void"}, "receivers": [{"name": "void"}]}))
    port = free_port()
    proc = ManagedProcess(
        "alertmanager",
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: loopback HTTP only
            "--log.level=warn",
        ],
        log_path=folder / "alertmanager.log",
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=30, what="alertmanager", interval=0.2, alive=proc.alive)
    except BaseException:
        proc.stop()
        raise
    version = subprocess.run([binary, "--version"], capture_output=True, text=True)
    first = (version.stdout or version.stderr).strip().splitlines()[:1]
    return proc, base, first[0] if first else ALERTMANAGER


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM too: stop everything in order, as on Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    results = Results(quick=opts.quick, fsync=opts.fsync, load_before=os.getloadavg())
    binary, results.am_note = alertmanager_binary(opts.install)
    root = Path(tempfile.mkdtemp(prefix="tierline-bench-pipeline-"))
    os.chmod(root, 0o755)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    infra = Infra(root, durable=opts.fsync)
    services: Services | None = None
    mail = SmtpSink(keep=False)
    code = 0
    try:
        mail.start()
        infra.start()
        prefix = f"bench_{uuid.uuid4().hex[:6]}_"
        baseline_url = infra.create_database(f"{prefix}raw")
        migrations.upgrade(INTAKE_MIGRATIONS, baseline_url)  # intake's own tables and indexes
        services = Services(
            infra,
            ports={s.name: free_port() for s in SERVICES},
            log_dir=root / "logs",
            config_dir=ROOT / "deploy" / "config",
            database_prefix=prefix,
            extra_env={
                "TIERLINE_BOOTSTRAP_API_KEY": ADMIN_KEY,
                "TIERLINE_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
            },
            service_env=mail.settings(),
        )
        services.start()
        results.startup_s = time.perf_counter() - started
        pids = {s.name: services.pid(s.name) for s in SERVICES}
        pids |= {name: proc.pid for name, proc in infra.procs().items()}
        bench = Bench(
            opts,
            results,
            intake_url=services.url("intake"),
            bootstrap=infra.bootstrap_servers,
            read_model_dsn=connect_args(infra.database_url(f"{prefix}intake")),
            baseline_dsn=connect_args(baseline_url),
            pids=pids,
            alertmanager=lambda: _start_alertmanager(binary, root) if binary else None,
        )
        limit = 400 if not opts.quick else 150  # a hard stop, well past the planned phases
        asyncio.run(asyncio.wait_for(bench.run(), limit))
        if not services.all_alive():
            results.notes.append("a service exited during the run; see the logs above")
            code = 1
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        results.notes.append("interrupted: the figures are partial")
        code = 130
    except Exception as exc:  # noqa: BLE001 - report it, stop everything, print what was measured
        say(f"the benchmark failed: {type(exc).__name__}: {exc}")
        results.notes.append(f"failed: {type(exc).__name__}: {exc}"[:300])
        if services:
            for name, proc in services.procs.items():
                print(f"--- last lines of {name}'s log ---\n{proc.tail(15)}", file=sys.stderr)
        code = 1
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            if services:
                services.stop()
            infra.stop()
            with contextlib.suppress(Exception):  # not started
                mail.stop()
            results.mails = mail.received
            shutil.rmtree(root, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    results.load_after = os.getloadavg()
    results.elapsed_s = time.perf_counter() - started
    print()
    for line in summary_lines(results):
        print(line)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
