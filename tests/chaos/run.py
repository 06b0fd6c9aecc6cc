"""make chaos: the whole system under load while a seeded schedule of faults runs; then the verdict.

PostgreSQL (fsync on), Kafka and the five services run as processes on free loopback ports with a
run-local copy of the repository's deploy/config, as `make run` and the pipeline bench start them. A
steady stream of incidents (mixed priorities, each POST with its own Idempotency-Key and retried with
it after a 5xx or a connection error) runs while faults strike one at a time (tests/chaos/faults.py):
SIGKILL of each service, of the broker, PostgreSQL's immediate shutdown, a broker stall, two replicas
with one killed. A share of the incidents (--escalate-share, 5 %) is escalated by hand to L4, a vendor
process that answers some deliveries with a 500 or too late (tests/chaos/vendor.py), and P4's SLA
targets are seconds on a 24x7 calendar (tests/chaos/stack.py), so warnings and breaches fire during
the faults; the notifier mails an SMTP server in this process. Then it waits (bounded) until every
incident is assigned with its clocks and visible in intake's read model, every L4 handoff reached the
vendor and the notifier owes a message for every assignment, and judges from the databases, a scan of
every topic and the Message-IDs the SMTP server received (tests/chaos/verdict.py): accepted, refused,
lost, duplicated, DLQ records and reasons, time to converge, worst POST -> assigned latency. Prints
the verdict, writes it as JSON, and exits 1 on any loss or duplicate (or no convergence).

    python -m tests.chaos.run [--incidents N] [--rate R] [--seed S] [--short] [--escalate-share F]
                              [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chaos import faults as faults_
from tests.chaos.load import Load
from tests.chaos.stack import ADMIN_KEY, SERVICE_NAMES, Stack
from tests.chaos.vendor import read_deliveries
from tests.chaos.verdict import (
    Verdict,
    converge,
    count_client_side,
    judge,
    readiness,
    undelivered,
    unnotified,
)
from tierline_launcher.procs import say


@dataclass(frozen=True)
class Options:
    incidents: int
    rate: float
    seed: int
    hold: tuple[float, float]
    pause: tuple[float, float]
    converge_bound: float
    retry_budget: float
    escalate_share: float
    kinds: tuple[str, ...]
    json_path: Path | None
    keep: bool
    logs: Path | None


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--short", action="store_true", help="200 incidents, short holds: ~3-4 minutes")
    parser.add_argument("--incidents", type=int, help="incidents to post (default 2000; short 200)")
    parser.add_argument("--rate", type=float, help="incidents a second (default 10; short 2)")
    parser.add_argument("--seed", type=int, default=16, help="the fault schedule's and the load's seed")
    parser.add_argument(
        "--converge-seconds", type=float, help="the bound on convergence (default 120; short 90)"
    )
    parser.add_argument(
        "--faults",
        help=f"comma-separated fault kinds, once each, seeded order (default all: {','.join(faults_.KINDS)})",
    )
    parser.add_argument(
        "--escalate-share",
        type=float,
        default=0.05,
        help="share of the incidents escalated by hand to L4, the fault-injecting vendor (default 0.05)",
    )
    parser.add_argument("--json", type=Path, help="write the verdict here (default .run/chaos-verdict.json)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs, data) at the end")
    parser.add_argument("--logs", type=Path, help="copy every process's log to this folder at the end")
    args = parser.parse_args(argv)
    short = args.short
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip()) if args.faults else faults_.KINDS
    unknown = sorted(set(kinds) - set(faults_.KINDS))
    if unknown:
        parser.error(f"unknown fault kinds {unknown}; known: {', '.join(faults_.KINDS)}")
    return Options(
        incidents=max(1, min(args.incidents or (200 if short else 2000), 50_000)),
        rate=max(0.5, min(args.rate or (2.0 if short else 10.0), 500.0)),
        seed=args.seed,
        hold=(3.0, 5.0) if short else (6.0, 12.0),
        pause=(2.0, 3.0) if short else (3.0, 6.0),
        converge_bound=max(10.0, min(args.converge_seconds or (90.0 if short else 120.0), 900.0)),
        retry_budget=60.0 if short else 90.0,
        escalate_share=max(0.0, min(args.escalate_share, 1.0)),
        kinds=kinds,
        json_path=args.json,
        keep=args.keep,
        logs=args.logs,
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM too: stop everything in order, as on Ctrl-C


def run(opts: Options) -> Verdict:
    """One chaos run from start to verdict; every process it started is stopped when it returns."""
    started = time.time()
    verdict = Verdict()
    stack: Stack | None = None
    load: Load | None = None
    try:
        say("starting PostgreSQL (fsync on), Kafka, the five services and an SMTP server")
        stack = Stack.start(keep=opts.keep)
        load = Load(
            intake_url=stack.url("intake"),
            api_key=ADMIN_KEY,
            incidents=opts.incidents,
            rate=opts.rate,
            seed=opts.seed,
            run_id=uuid.uuid4().hex[:8],
            retry_budget=opts.retry_budget,
            router_url=stack.url("router"),
            escalate_share=opts.escalate_share,
        )
        schedule = faults_.schedule(opts.seed, kinds=opts.kinds, hold=opts.hold, pause=opts.pause)
        say(
            f"load: {opts.incidents:,} incidents at {opts.rate:g}/s; faults (seed {opts.seed}):"
            f" {', '.join(f.kind for f in schedule)}"
        )
        load.start()
        last = [time.monotonic()]

        def tick(current: Load = load) -> None:
            if current.error is not None:
                raise RuntimeError(f"the load generator failed: {current.error!r}")
            if time.monotonic() - last[0] >= 5:
                last[0] = time.monotonic()
                say(current.progress())

        runner = faults_.FaultRunner(stack, schedule, tick=tick)
        time.sleep(3.0)  # a few seconds of calm load first
        runner.run()
        verdict.faults = [f.as_dict() for f in schedule]
        verdict.unexpected_exits = runner.unexpected_exits
        first = min(f.started_at or started for f in schedule)
        last_fault = max(f.recovered_at or started for f in schedule)
        say(f"last fault recovered; waiting (up to {opts.converge_bound:.0f}s) for convergence")

        def since(current: Load = load) -> float:
            return max(last_fault, current.finished_at or last_fault)

        notifier_dsn = stack.database("notifier")

        async def waiting(current: Load = load, record: Path = stack.deliveries_file) -> str:
            missing = undelivered(current.escalated, read_deliveries(record))
            awaited = [f"{len(missing):,} at L4 not yet delivered to the vendor"] if missing else []
            accepted = [p.incident_id for p in current.posts.values() if p.incident_id]
            untold = await unnotified(notifier_dsn, accepted)
            if untold is None:
                awaited.append("the notifier's database did not answer")
            elif untold:
                awaited.append(f"{untold:,} assignments the notifier owes no message for yet")
            return "; ".join(awaited)

        verdict.converged, verdict.converge_seconds = asyncio.run(
            converge(stack.database("intake"), load, since=since, bound=opts.converge_bound, waiting=waiting)
        )
        if not verdict.converged:
            load.stop.set()
            load.done.wait(15)
        count_client_side(load, verdict, schedule)
        say("judging: intake's, the router's, the SLA monitor's and the notifier's databases, every topic")
        dsns = {name: stack.database(name) for name in ("intake", "router", "sla-monitor", "notifier")}
        asyncio.run(
            judge(
                load,
                verdict,
                dsns=dsns,
                bootstrap=stack.bootstrap,
                faults_window=(first, last_fault),
                deliveries=read_deliveries(stack.deliveries_file),
                mail_ids=stack.mail.ids,
            )
        )
        verdict.readiness_at_end = readiness({name: stack.url(name) for name in SERVICE_NAMES})
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        verdict.notes.append("interrupted: the verdict is partial")
    except Exception as exc:  # noqa: BLE001 - report it, stop everything, print what was judged
        say(f"the chaos run failed: {type(exc).__name__}: {exc}")
        verdict.notes.append(f"failed: {type(exc).__name__}: {exc}"[:500])
        if stack is not None:
            for name in stack.services.procs:
                print(f"--- last lines of {name}'s log ---\n{stack.log_tail(name, 15)}", file=sys.stderr)
    finally:
        if load is not None:
            load.stop.set()
            load.done.wait(15)
            if not verdict.posted:
                count_client_side(load, verdict)
        if stack is not None:
            with contextlib.suppress(KeyboardInterrupt):
                if opts.logs:
                    stack.save_logs(opts.logs)
                stack.stop()
    verdict.elapsed_s = time.time() - started
    return verdict


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        verdict = run(opts)
    finally:
        signal.signal(signal.SIGTERM, previous)
    path = opts.json_path or Path(".run") / "chaos-verdict.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verdict.as_dict(), indent=2, default=str) + "\n")
    print()
    for line in verdict.lines():
        print(line)
    print(f"(the verdict as JSON: {path})")
    sys.stdout.flush()
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
