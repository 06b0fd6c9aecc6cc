"""The seeded fault schedule: one fault at a time, each held for a while, recovered, then a pause.

Kinds: SIGKILL of each service (restarted after the hold), SIGKILL of the Kafka broker (restarted on
the same data and ports), PostgreSQL's immediate shutdown (SIGQUIT; crash recovery at the restart), a
broker stall (SIGSTOP, then SIGCONT: every connection hangs instead of failing), and a second replica
of router and sla-monitor started beside the first, then the first ones SIGKILLed while the replicas
carry on (the originals come back and the replicas are stopped gently).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.chaos.stack import REPLICATED, SERVICE_NAMES, Stack
from tierline_launcher.procs import say

KINDS = (
    *(f"kill:{name}" for name in SERVICE_NAMES),
    "kill:kafka",
    "restart:postgres",
    "stall:kafka",
    "replicas",
)


@dataclass
class Fault:
    kind: str
    hold: float  # seconds the fault lasts before recovery starts
    pause: float  # seconds of calm after the recovery
    started_at: float | None = None  # wall clock
    recovered_at: float | None = None  # wall clock: the system is whole again (processes ready)
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        took = (
            round(self.recovered_at - self.started_at, 1) if self.started_at and self.recovered_at else None
        )
        return {
            "kind": self.kind,
            "hold_s": round(self.hold, 1),
            "fault_to_recovered_s": took,
            "note": self.note,
        }


def schedule(
    seed: int, *, kinds: tuple[str, ...] = KINDS, hold: tuple[float, float], pause: tuple[float, float]
) -> list[Fault]:
    """Every kind once, in a seeded order, with seeded hold and pause times."""
    rng = random.Random(seed)
    order = list(kinds)
    rng.shuffle(order)
    return [Fault(kind, rng.uniform(*hold), rng.uniform(*pause)) for kind in order]


@dataclass
class FaultRunner:
    """Runs the schedule on the main thread; ``tick`` is called while it waits (progress, checks)."""

    stack: Stack
    faults: list[Fault]
    tick: Callable[[], None] = lambda: None
    unexpected_exits: list[str] = field(default_factory=list)

    def run(self) -> None:
        for number, fault in enumerate(self.faults, 1):
            say(f"fault {number}/{len(self.faults)}: {fault.kind} for {fault.hold:.1f}s")
            fault.started_at = time.time()
            getattr(self, "_" + fault.kind.split(":")[0])(fault)
            fault.recovered_at = time.time()
            say(f"fault {number} recovered after {fault.recovered_at - fault.started_at:.1f}s: {fault.kind}")
            self._restart_exited()
            self._wait(fault.pause)

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.tick()
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))

    def _restart_exited(self) -> None:
        """A process that died though nobody killed it is a finding; it is restarted, as compose would."""
        for name in self.stack.exited():
            self.unexpected_exits.append(name)
            say(f"{name} exited by itself! restarting it; its last lines:\n{self.stack.log_tail(name)}")
            self.stack.restart_service(name)

    def _kill(self, fault: Fault) -> None:
        target = fault.kind.split(":", 1)[1]
        if target == "kafka":
            self.stack.kill_kafka()
            self._wait(fault.hold)
            self.stack.restart_kafka()
        else:
            self.stack.kill_service(target)
            self._wait(fault.hold)
            self.stack.restart_service(target)

    def _restart(self, fault: Fault) -> None:
        self.stack.crash_postgres()
        self._wait(fault.hold)
        self.stack.restart_postgres()

    def _stall(self, fault: Fault) -> None:
        self.stack.stall_kafka()
        try:
            self._wait(fault.hold)
        finally:
            self.stack.resume_kafka()

    def _replicas(self, fault: Fault) -> None:
        replicas = []
        for service in REPLICATED:
            replicas.append(self.stack.add_replica(service))
            say(f"  {replicas[-1]} ready beside {service}")
        self._wait(3.0)  # the replicas join their consumer groups and take partitions
        for service in REPLICATED:
            self.stack.kill_service(service)
        say(f"  SIGKILLed {', '.join(REPLICATED)}; {', '.join(replicas)} carry on")
        self._wait(fault.hold)
        for service in REPLICATED:
            self.stack.restart_service(service)
        for name in replicas:
            self.stack.remove_replica(name)
        fault.note = f"replicas {', '.join(replicas)} carried the load, then stopped gently"
