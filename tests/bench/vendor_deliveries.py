"""make bench: signed webhook deliveries per second through the real worker, against raw httpx POSTs.

Queues N pending deliveries (~2 KB case bodies, COPY) for one vendor whose webhook is a local
receiver running in its own process (uvicorn), POSTs the same bodies there with a bare
httpx.AsyncClient in batches of the worker's size (the baseline the target is set against), and
again with a bare aiohttp session (the worker's own client: what the worker adds on top of it),
then runs the gateway's delivery
worker (entrypoints.workers.deliver_webhooks, through the service Runtime) until every delivery is
claimed, signed, sent and recorded. The receiver counts webhook-ids: each must arrive exactly once.
Figures are ratios to the baseline, same receiver, same PostgreSQL, same run (noisy machines).

    python -m tests.bench.vendor_deliveries [--deliveries N] [--batch N [N ...]] [--poll-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
from sqlalchemy.engine import make_url
from standardwebhooks import Webhook

from tests.bench.sla_timers import postgres
from tierline_launcher.procs import ManagedProcess, free_port, say, wait_until
from tierline_shared import migrations
from tierline_shared.runtime import Runtime
from tierline_vendor_gateway.bootstrap import build_spec
from tierline_vendor_gateway.config import Settings
from tierline_vendor_gateway.domain.delivery import case_payload
from tierline_vendor_gateway.entrypoints import workers

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "vendor-gateway" / "migrations"
PHASE_LIMIT_SECONDS = 90
TARGET_PER_SECOND = 1000
VENDOR = "bench-vendor"
SECRET = "whsec_dGllcmxpbmUtYmVuY2gtd2ViaG9vay1zZWNyZXQtMzI="  # bench only: 32 bytes, base64
SAMPLE_EVERY = 250  # the receiver keeps every 250th signed request; we verify those afterwards
CASE_COLUMNS = ("id", "incident_id", "vendor", "status", "created_at", "updated_at")
DELIVERY_COLUMNS = (
    "id",
    "case_id",
    "vendor",
    "url",
    "body",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
WORDS = ("switch", "uplink", "port", "flapping", "bgp", "session", "reset", "optics", "firmware")
WORDS += ("rack", "power", "supply", "latency", "errors", "crc", "spanning", "tree", "loop")


class Receiver:
    """The vendor's end, served by uvicorn in its own process: counts webhook-ids, samples signed posts."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.posts = 0
        self.ids: set[str] = set()
        self.samples: list[dict[str, Any]] = []

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] == "/stats":
            answer = json.dumps(
                {"posts": self.posts, "ids": sorted(self.ids), "samples": self.samples}
            ).encode()
        elif scope["path"] == "/reset":
            self.reset()
            answer = b"{}"
        else:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.posts += 1
            self.ids.add(headers.get("webhook-id", ""))
            if "webhook-signature" in headers and self.posts % SAMPLE_EVERY == 1:
                self.samples.append({"headers": headers, "body": body.decode()})
            answer = b'{"reference":"VND-%d"}' % self.posts  # a vendor's case number, as real ones answer
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))],
            }
        )
        await send({"type": "http.response.body", "body": answer})


receiver = Receiver()


def start_receiver(port: int, logs: Path) -> ManagedProcess:
    argv = [sys.executable, "-m", "uvicorn", "tests.bench.vendor_deliveries:receiver", "--port", str(port)]
    argv += ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log", "--lifespan", "off"]
    proc = ManagedProcess(
        "receiver",
        argv,
        log_path=logs / "receiver.log",
        cwd=ROOT,
    )

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=30, what="bench receiver", alive=proc.alive)
    except Exception:
        say(proc.tail())
        proc.stop()
        raise
    return proc


def _deliveries(n: int, url: str, rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """n cases and their pending deliveries, due now, with bodies shaped as open_case writes them."""
    now = datetime.now(UTC)
    case_rows, delivery_rows = [], []
    for _ in range(n):
        case_id, incident_id = uuid.uuid4(), uuid.uuid4()
        incident = {
            "id": str(incident_id),
            "title": " ".join(rng.choices(WORDS, k=8)),
            "description": " ".join(rng.choices(WORDS, k=230)),
            "service": "network",
            "category": "network",
            "priority": "P1",
            "created_at": now.isoformat(),
        }
        body = case_payload(
            case_id=str(case_id),
            vendor=VENDOR,
            incident=incident,
            escalation={"from_tier": "L3", "reason": "sla_breach", "note": "core switch keeps flapping"},
            callback_url=f"http://127.0.0.1:8004/v1/vendors/{VENDOR}/callbacks",
            timestamp=now,
        )
        case_rows.append((case_id, incident_id, VENDOR, "pending", now, now))
        body_bytes = json.dumps(body, separators=(",", ":")).encode()
        message_id = f"msg_{uuid.uuid4().hex}"
        delivery_rows.append((message_id, case_id, VENDOR, url, body_bytes, "pending", 0, now, now))
    return case_rows, delivery_rows


async def _stats(client: httpx.AsyncClient, base: str, reset: bool = True) -> dict[str, Any]:
    stats: dict[str, Any] = (await client.get(f"{base}/stats")).json()
    if reset:
        await client.post(f"{base}/reset")
    return stats


async def post_raw(
    url: str, rows: list[tuple[Any, ...]], batch: int, *, library: str = "httpx"
) -> tuple[float, float]:
    """A baseline: the same bodies and webhook-ids POSTed by a bare client, batch by batch.

    ``library`` is httpx (the baseline the target is set against) or aiohttp (the client the
    worker uses, so the ratio shows what the worker adds). Returns posts/s and this process's
    CPU milliseconds per post.
    """
    headers = {"user-agent": "Tierline-Webhooks/1"}
    if library == "httpx":
        client: Any = httpx.AsyncClient(headers=headers)

        async def post(r: tuple[Any, ...]) -> int:
            answer = await client.post(
                url, content=r[4], headers={"webhook-id": r[0], "content-type": "application/json"}
            )
            return answer.status_code
    else:
        client = aiohttp.ClientSession(headers=headers)

        async def post(r: tuple[Any, ...]) -> int:
            async with client.post(
                url, data=r[4], headers={"webhook-id": r[0], "content-type": "application/json"}
            ) as answer:
                await answer.read()
                return answer.status

    async with client:
        started, cpu, done, shown = time.perf_counter(), time.process_time(), 0, 0.0
        for i in range(0, len(rows), batch):
            chunk = rows[i : i + batch]
            answers = await asyncio.gather(*(post(r) for r in chunk))
            assert all(a == 200 for a in answers), "the receiver accepts every post"
            done += len(chunk)
            elapsed = time.perf_counter() - started
            if elapsed - shown >= 1 or done == len(rows):
                shown = elapsed
                say(f"    raw {library}: {done:>6,} posted in {elapsed:5.1f}s ({done / elapsed:,.0f}/s)")
    n = len(rows)
    return n / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / n


async def deliver_ours(settings: Settings, conn: asyncpg.Connection, n: int) -> tuple[float, float]:
    """The service's delivery worker until nothing is pending (claimed, sent, recorded).

    Returns deliveries/s and this process's CPU milliseconds per delivery.
    """
    rt = Runtime(build_spec(settings))
    assert rt.spec.on_start is not None
    await rt.spec.on_start(rt)  # vendors.yaml into the registry, as at service start
    started, cpu, shown = time.perf_counter(), time.process_time(), 0.0
    worker = asyncio.create_task(workers.deliver_webhooks(rt))
    try:
        while pending := await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'pending'"):
            if worker.done():
                worker.result()
            elapsed = time.perf_counter() - started
            if elapsed - shown >= 1:
                shown = elapsed
                done = n - pending
                say(f"    ours: {done:>6,} delivered in {elapsed:5.1f}s ({done / elapsed:,.0f}/s)")
            await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        say(f"    ours: {n:>6,} delivered in {elapsed:5.1f}s ({n / elapsed:,.0f}/s)")
        return n / elapsed, cpu * 1000 / n
    finally:
        # Cancelled mid-query, the worker's connection is closed under the cancellation; the pool
        # logs that as an error with a traceback, which is noise here.
        pool_log = logging.getLogger("sqlalchemy.pool")
        level = pool_log.level
        pool_log.setLevel(logging.CRITICAL)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await rt.engine.dispose()
        pool_log.setLevel(level)


async def check_once(
    conn: asyncpg.Connection, ids: list[str], received: dict[str, Any], outbox: int
) -> list[str]:
    """What went wrong with exactly-once delivery of ``ids`` (nothing, normally)."""
    problems = []
    n = len(ids)
    if received["posts"] != n or set(received["ids"]) != set(ids):
        problems.append(
            f"receiver got {received['posts']} posts of {len(received['ids'])} webhook-ids for {n}"
        )
    delivered = await conn.fetchval(
        "SELECT count(*) FROM deliveries WHERE id = ANY($1) AND status = 'delivered' AND attempts = 1", ids
    )
    logged = await conn.fetchval("SELECT count(*) FROM delivery_attempts WHERE delivery_id = ANY($1)", ids)
    # case events only: the worker's start also announces the vendor (vendor.changed)
    case_events = "SELECT count(*) FROM outbox WHERE event_type <> 'tierline.vendor.changed.v1'"
    events = await conn.fetchval(case_events) - outbox
    if (delivered, logged, events) != (n, n, n):
        problems.append(
            f"{delivered} delivered at the first attempt, {logged} attempts logged, {events} events"
        )
    for sample in received["samples"]:
        try:
            Webhook(SECRET).verify(sample["body"], sample["headers"], json_parse=False)
        except Exception as exc:  # noqa: BLE001 - reported with the figures
            problems.append(f"signature of {sample['headers'].get('webhook-id')} does not verify: {exc}")
    return problems


async def run_batch(
    conn: asyncpg.Connection,
    client: httpx.AsyncClient,
    settings: Settings,
    base: str,
    n: int,
    rng: random.Random,
) -> tuple[tuple[float, float], dict[str, tuple[float, float]], list[str]]:
    """Raw POSTs (httpx, then aiohttp), then the worker, over the same n bodies at one batch size."""
    batch = settings.delivery_batch_size
    case_rows, rows = _deliveries(n, f"{base}/cases", rng)
    raw, problems = {}, []
    for library in ("httpx", "aiohttp"):
        say(f"batch {batch}: {n:,} raw {library} POSTs of the bodies about to be queued")
        raw[library] = await asyncio.wait_for(
            post_raw(f"{base}/cases", rows, batch, library=library), PHASE_LIMIT_SECONDS
        )
        baseline = await _stats(client, base)
        if not baseline["posts"] == len(baseline["ids"]) == n:
            problems.append(f"the raw {library} baseline did not arrive once each")
    await conn.copy_records_to_table("cases", records=case_rows, columns=CASE_COLUMNS)
    await conn.copy_records_to_table("deliveries", records=rows, columns=DELIVERY_COLUMNS)
    outbox = await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type <> 'tierline.vendor.changed.v1'"
    )
    say(f"batch {batch}: {n:,} deliveries queued; the gateway's delivery worker")
    ours = await asyncio.wait_for(deliver_ours(settings, conn, n), PHASE_LIMIT_SECONDS)
    problems += await check_once(conn, [r[0] for r in rows], await _stats(client, base), outbox)
    return ours, raw, problems


async def main_async(url: str, n: int, batches: list[int], poll: float, base: str, config: Path) -> list[str]:
    migrations.upgrade(MIGRATIONS, url)
    u = make_url(url)
    conn = await asyncpg.connect(host=u.host, port=u.port, user=u.username, database=u.database)
    rng = random.Random(7)
    size = sum(len(r[4]) for r in _deliveries(100, base, rng)[1]) / 100
    lines, problems, rates = [], [], []
    try:
        async with httpx.AsyncClient() as client:
            say("warming the receiver up with 200 raw POSTs")
            await post_raw(f"{base}/cases", _deliveries(200, f"{base}/cases", rng)[1], 50)
            await _stats(client, base)
            for batch in batches:
                settings = Settings(
                    database_url=url,
                    config_dir=config,
                    delivery_batch_size=batch,
                    delivery_poll_seconds=poll,
                    log_level="WARNING",
                )
                (ours, ours_cpu), raw, found = await run_batch(conn, client, settings, base, n, rng)
                rates.append((ours, batch))
                problems += [f"  batch {batch}: {p}" for p in found]
                (hx, hx_cpu), (ah, ah_cpu) = raw["httpx"], raw["aiohttp"]
                lines.append(
                    f"  batch {batch:>4}: ours {ours:>7,.0f}/s   raw httpx {hx:>7,.0f}/s"
                    f"   ratio {ours / hx:5.2f}   (raw aiohttp {ah:>7,.0f}/s, ratio {ours / ah:4.2f})"
                )
                lines.append(
                    f"{'':14}each delivered exactly once, signatures verify: {'yes' if not found else 'NO'};"
                    f" CPU here per delivery: ours {ours_cpu:.2f} ms, raw httpx {hx_cpu:.2f} ms,"
                    f" raw aiohttp {ah_cpu:.2f} ms"
                )
    finally:
        await conn.close()
    best, at = max(rates)
    verdict = "met" if best >= TARGET_PER_SECOND else "MISSED"
    return [
        f"{n:,} deliveries a run, bodies ~{size:,.0f} bytes; receiver: uvicorn in its own process;"
        f" worker idle poll {poll}s",
        *lines,
        f"target >= {TARGET_PER_SECOND:,} signed deliveries/s: {verdict} (best {best:,.0f}/s at batch {at})",
        *(["exactly-once problems:", *problems] if problems else []),
    ]


def _vendors_file(root: Path, url: str) -> None:
    """A vendors.yaml with the one bench vendor; 127.0.0.1 allow-listed, so the SSRF guard lets it pass."""
    config = {
        "vendors": [{"name": VENDOR, "webhook_url": url, "secrets": [SECRET], "callback_secrets": [SECRET]}],
        "delivery": {"allow_hosts": ["127.0.0.1"], "timeout": "10s"},
    }
    (root / "vendors.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=5000, help="deliveries a run (max 20,000)")
    parser.add_argument("--batch", type=int, nargs="+", default=[50, 200], help="worker batch sizes to run")
    parser.add_argument(
        "--poll-seconds", type=float, default=Settings().delivery_poll_seconds, help="the worker's idle wait"
    )
    args = parser.parse_args()
    n, batches = max(500, min(args.deliveries, 20_000)), [max(1, min(b, 500)) for b in args.batch]
    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="tierline-bench-vendor-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    _vendors_file(root, f"{base}/cases")
    proc = start_receiver(port, root)
    try:
        with postgres() as server:
            url = server.url(f"bench_vendor_{uuid.uuid4().hex[:6]}")
            server.create_database(make_url(url).database or "")
            lines = asyncio.run(main_async(url, n, batches, args.poll_seconds, base, root))
    finally:
        proc.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"\nTierline vendor delivery benchmark (ratio = Tierline worker / raw httpx POSTs of the same bodies"
        f" to the same receiver, same run; {time.perf_counter() - started:.0f}s)"
    )
    for line in lines:
        print(line)
    return 1 if any(line == "exactly-once problems:" for line in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
