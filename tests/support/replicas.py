"""Several processes of one service on one database and topic prefix: start, wait ready, SIGKILL, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiokafka import AIOKafkaProducer

from tierline_launcher.procs import ManagedProcess, free_port
from tierline_shared.events import topics
from tierline_shared.messaging.kafka import ensure_topics, new_admin, new_producer
from tierline_shared.testing import eventually


def service_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any TIERLINE_ or Kafka setting of its own, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return {**env, "TIERLINE_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1", **settings}


@contextlib.contextmanager
def replica_group(
    module: str,
    folder: Path,
    *,
    config: dict[str, Any],
    settings: dict[str, str],
    wait: float,
) -> Iterator[ServiceReplicas]:
    """A ServiceReplicas with its YAML ``config`` files written under ``folder``; stopped however it ends.

    The group's logs are printed at the end, which pytest shows when the test failed.
    """
    (folder / "config").mkdir()
    for name, content in config.items():
        (folder / "config" / name).write_text(yaml.safe_dump(content))
    env = service_env({**settings, "TIERLINE_CONFIG_DIR": str(folder / "config")})
    group = ServiceReplicas(module, env, folder / "logs", wait=wait)
    try:
        yield group
    finally:
        group.stop_all()
        print(group.logs())


class ServiceReplicas:
    """Processes of ``python -m <module> serve``, each on its own HTTP port, by name."""

    def __init__(self, module: str, env: dict[str, str], log_dir: Path, *, wait: float) -> None:
        self.module = module
        self.env = env
        self.log_dir = log_dir
        self.wait = wait
        self.running: dict[str, tuple[ManagedProcess, str]] = {}
        self.stopped: list[ManagedProcess] = []

    def start(self, name: str) -> None:
        port = free_port()
        process = ManagedProcess(
            name,
            [sys.executable, "-m", self.module, "serve"],
            log_path=self.log_dir / f"{name}.log",
            env={**self.env, "TIERLINE_PORT": str(port)},
        )
        self.running[name] = (process, f"http://127.0.0.1:{port}")

    def url(self, name: str) -> str:
        return self.running[name][1]

    async def ready(self, http: httpx.AsyncClient, *names: str) -> None:
        for name in names:
            process, url = self.running[name]

            async def answers(process: ManagedProcess = process, url: str = url, name: str = name) -> bool:
                if not process.alive():
                    raise AssertionError(f"{name} exited before it was ready:\n{process.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get(f"{url}/readyz")).status_code == 200
                return False

            await eventually(answers, timeout=self.wait, interval=0.2, what=f"{name} ready")

    async def kill(self, *names: str) -> None:
        """SIGKILL: no shutdown hook runs, no goodbye to the consumer group, open transactions die."""
        for name in names:
            self.running[name][0].proc.send_signal(signal.SIGKILL)
        for name in names:
            process, _ = self.running.pop(name)
            await asyncio.to_thread(process.proc.wait, 10)
            self.stopped.append(process)

    def stop_all(self) -> None:
        for process, _ in self.running.values():
            process.stop()
            self.stopped.append(process)
        self.running.clear()
        for process in self.stopped:
            process.stop()  # closes the log of the ones already killed

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(40)}" for p in self.stopped)


@contextlib.asynccontextmanager
async def partitioned_producer(
    bootstrap: str, prefix: str, partitions: int
) -> AsyncIterator[AIOKafkaProducer]:
    """Every topic under ``prefix`` made with ``partitions`` before any service starts (so replicas share
    the work from the first rebalance), and a producer to feed them."""
    client_id = prefix.rstrip(".")
    admin = new_admin(bootstrap, client_id)
    await admin.start()
    try:
        await ensure_topics(
            admin, [prefix + t for t in topics.ALL], partitions=partitions, replication_factor=1
        )
    finally:
        await admin.close()
    kafka = new_producer(bootstrap, client_id)
    await kafka.start()
    try:
        yield kafka
    finally:
        await kafka.stop()
