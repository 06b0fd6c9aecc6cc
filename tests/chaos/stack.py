"""The system under fault: PostgreSQL (fsync on), Kafka and the five services as processes, and the faults.

Its config is deploy/config (with the notifier's templates) copied to the run's folder with two
changes: the only L4 vendor is the run's fault-injecting receiver (tests/chaos/vendor.py, its own
process), and P4's SLA targets are seconds on the 24x7 calendar, so warnings and breaches fire while
the faults strike. The notifier mails a real SMTP server in this process (tests/e2e/mailbox.py) that
accepts everything and keeps each Message-ID, so the verdict can tell mail marked sent from mail
received; intake and the notifier share a link secret, as under `make run`.

Every method that starts a process runs on the main thread: PR_SET_PDEATHSIG ties a child to the
thread that created it, so a child started from a worker thread would die when that thread ends.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.mailbox import SmtpSink
from tests.support.postgres import connect_args
from tierline_launcher.kafka import KafkaBroker
from tierline_launcher.paths import repo_root
from tierline_launcher.postgres import PostgresServer
from tierline_launcher.procs import ManagedProcess, free_port, say, wait_until
from tierline_launcher.system import SERVICES, Infra, Services

ADMIN_KEY = "tl_chaos-" + secrets.token_urlsafe(24)
SERVICE_NAMES = tuple(s.name for s in SERVICES)
REPLICATED = ("router", "sla-monitor")
VENDOR = "chaos-vendor"
SHORT_SLA_PRIORITY = "P4"  # its response and resolution targets are seconds: warnings and breaches fire
SHORT_SLA = {"response": "4s", "resolution": "15s", "warnings": [0.5]}
VENDOR_TIMEOUT_S = 2.0  # the gateway's request timeout; the receiver's stalls outlast it


def write_config(folder: Path, *, vendor_port: int, secret: str) -> None:
    """deploy/config with the run's vendor as the only L4 and second-scale SLA targets for one priority."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in (repo_root() / "deploy" / "config").glob("*.yaml"):
        shutil.copy(source, folder / source.name)
    shutil.copytree(repo_root() / "deploy" / "config" / "templates", folder / "templates")
    router = yaml.safe_load((folder / "router.yaml").read_text())
    router["vendors"] = [{"vendor": VENDOR}]  # no filters: it takes every incident escalated to L4
    for queue in router["queues"]:  # every member works: the load, not the rota, is under test
        queue.pop("schedule", None)
    (folder / "router.yaml").write_text(yaml.safe_dump(router, sort_keys=False))
    vendors = {
        "vendors": [
            {
                "name": VENDOR,
                "webhook_url": f"http://127.0.0.1:{vendor_port}/tierline/cases",
                "secrets": [secret],
                "callback_secrets": [new_secret()],
            }
        ],
        "delivery": {
            "max_attempts": 12,
            "initial_backoff": "200ms",
            "max_backoff": "2s",
            "timeout": f"{VENDOR_TIMEOUT_S:g}s",
            "allow_hosts": ["127.0.0.1"],
        },
    }
    (folder / "vendors.yaml").write_text(yaml.safe_dump(vendors, sort_keys=False))
    sla = yaml.safe_load((folder / "sla.yaml").read_text())
    for policy in sla["policies"]:
        if policy.get("priorities") == [SHORT_SLA_PRIORITY] and not policy.get("services"):
            policy.update(SHORT_SLA, calendar="24x7")  # every instant counts: it breaches on a Sunday too
            policy.pop("pause_on", None)
    (folder / "sla.yaml").write_text(yaml.safe_dump(sla, sort_keys=False))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Stack:
    """A running system in a temporary folder; ``stop()`` ends every process it started."""

    root: Path
    infra: Infra
    services: Services
    prefix: str
    mail: SmtpSink
    vendor: ManagedProcess | None = None
    keep: bool = False

    @property
    def deliveries_file(self) -> Path:
        return self.root / "vendor-deliveries.jsonl"

    @classmethod
    def start(cls, *, keep: bool = False) -> Stack:
        root = Path(tempfile.mkdtemp(prefix="tierline-chaos-"))
        os.chmod(root, 0o755)  # PostgreSQL runs as another account when we are root
        infra = Infra(root, durable=True)  # fsync on: a crash must not lose a commit
        prefix = f"chaos_{uuid.uuid4().hex[:6]}_"
        vendor_port, secret = free_port(), new_secret()
        write_config(root / "config", vendor_port=vendor_port, secret=secret)
        mail = SmtpSink(keep=False)
        services = Services(
            infra,
            ports={s.name: free_port() for s in SERVICES},
            log_dir=root / "logs",
            config_dir=root / "config",
            database_prefix=prefix,
            extra_env={
                "TIERLINE_BOOTSTRAP_API_KEY": ADMIN_KEY,
                "TIERLINE_RATE_LIMIT_PER_MINUTE": "1000000000",
            },
            service_env=mail.settings(),
        )
        stack = cls(root, infra, services, prefix, mail, keep=keep)
        try:
            mail.start()
            stack.vendor = _start_vendor(root, vendor_port, secret, stack.deliveries_file)
            infra.start()
            services.start()
        except BaseException:
            stack.stop()
            raise
        return stack

    # -- where things are ------------------------------------------------------------------------

    def url(self, service: str) -> str:
        return self.services.url(service)

    def database(self, service: str) -> dict[str, Any]:
        return connect_args(self.infra.database_url(self.prefix + service.replace("-", "_")))

    @property
    def bootstrap(self) -> str:
        return self.infra.bootstrap_servers

    @property
    def kafka(self) -> KafkaBroker:
        assert self.infra.kafka is not None, "chaos needs the embedded broker"
        return self.infra.kafka

    @property
    def postgres(self) -> PostgresServer:
        assert isinstance(self.infra.postgres, PostgresServer), "chaos needs the embedded PostgreSQL"
        return self.infra.postgres

    def log_tail(self, name: str, lines: int = 20) -> str:
        proc = self.services.procs.get(name)
        return proc.tail(lines) if proc else ""

    def exited(self) -> list[str]:
        """Services (and replicas) that are not running though nobody stopped them."""
        return [name for name, proc in self.services.procs.items() if not proc.alive()]

    # -- faults ----------------------------------------------------------------------------------

    def kill_service(self, name: str) -> None:
        _signal_and_wait(self.services.procs[name], signal.SIGKILL)

    def restart_service(self, name: str) -> None:
        self.services.restart(name)

    def kill_kafka(self) -> None:
        assert self.kafka.proc is not None
        _signal_and_wait(self.kafka.proc, signal.SIGKILL)

    def restart_kafka(self) -> None:
        self.kafka.restart()

    def stall_kafka(self) -> None:
        assert self.kafka.proc is not None
        self.kafka.proc.proc.send_signal(signal.SIGSTOP)

    def resume_kafka(self) -> None:
        assert self.kafka.proc is not None
        self.kafka.proc.proc.send_signal(signal.SIGCONT)

    def crash_postgres(self) -> None:
        """Immediate shutdown (SIGQUIT to the postmaster): no checkpoint, crash recovery at the next start."""
        assert self.postgres.proc is not None
        _signal_and_wait(self.postgres.proc, signal.SIGQUIT)

    def restart_postgres(self) -> None:
        self.postgres.restart()

    def add_replica(self, service: str) -> str:
        name = f"{service}-b"
        self.services.add_replica(service, name)
        return name

    def remove_replica(self, name: str) -> None:
        self.services.remove(name)

    # -- the end ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Every process, in order; a stalled broker is woken first so it can stop."""
        with contextlib.suppress(Exception):
            if self.infra.kafka and self.infra.kafka.proc and self.infra.kafka.proc.alive():
                self.resume_kafka()
        with contextlib.suppress(KeyboardInterrupt):
            self.services.stop()
            self.infra.stop()
            if self.vendor is not None:
                self.vendor.stop()
            with contextlib.suppress(Exception):  # not started, or stopped already
                self.mail.stop()
            if self.keep:
                say(f"logs and data kept in {self.root}")
            else:
                subprocess.run(["rm", "-rf", str(self.root)], check=False)

    def save_logs(self, folder: Path) -> None:
        """Copy the services' and servers' logs to ``folder`` (before ``stop()`` removes them)."""
        folder.mkdir(parents=True, exist_ok=True)
        logs = [*sorted((self.root / "logs").glob("*.log")), self.kafka.data_root / "kafka.log"]
        logs += [self.postgres.data_root / "postgres.log", self.deliveries_file]
        for log in logs:
            with contextlib.suppress(OSError):
                (folder / log.name).write_bytes(log.read_bytes())


def _start_vendor(root: Path, port: int, secret: str, record: Path) -> ManagedProcess:
    """The fault-injecting vendor (tests/chaos/vendor.py) as its own process, ready to take deliveries."""
    argv = [sys.executable, "-m", "tests.chaos.vendor", "--port", str(port), "--secret", secret]
    proc = ManagedProcess(
        "vendor",
        [*argv, "--record", str(record), "--stall-seconds", str(VENDOR_TIMEOUT_S * 2)],
        log_path=root / "logs" / "vendor.log",
        cwd=repo_root(),
        env={**os.environ, "PYTHONPATH": str(repo_root())},
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=30, what="the chaos vendor", alive=proc.alive)
    return proc


def _signal_and_wait(proc: ManagedProcess, signum: int, timeout: float = 30.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.proc.send_signal(signum)
    proc.proc.wait(timeout)
