"""A real Apache Kafka broker (KRaft, broker+controller) from the official jars on Maven Central."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from tierline_launcher.paths import cache_dir, repo_root
from tierline_launcher.procs import ManagedProcess, free_port, say, wait_until


def kafka_version() -> str:
    pom = (repo_root() / "deploy" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    if not match:
        raise RuntimeError("deploy/kafka/pom.xml does not declare kafka.version")
    return match.group(1)


def libs_dir() -> Path:
    return cache_dir() / "kafka" / kafka_version() / "libs"


def ensure_jars() -> Path:
    """Fetch the broker jars with Maven on first use; later runs reuse the cache."""
    libs = libs_dir()
    marker = libs.parent / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError("Kafka needs Java 17+ and Maven on PATH (apt-get install openjdk-17-jdk maven)")
    say(f"fetching Apache Kafka {kafka_version()} broker jars with Maven (first run only, ~45 MB)")
    started = time.monotonic()
    if libs.exists():
        shutil.rmtree(libs)
    subprocess.run(
        [
            "mvn",
            "-B",
            "--no-transfer-progress",
            "-f",
            str(repo_root() / "deploy" / "kafka" / "pom.xml"),
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    jars = list(libs.glob("*.jar"))
    if not any(j.name.startswith("kafka_2.13-") for j in jars):
        raise RuntimeError(f"Maven finished but no kafka_2.13 jar is in {libs}")
    marker.write_text(kafka_version())
    say(f"fetched {len(jars)} jars in {time.monotonic() - started:.0f}s into {libs}")
    return libs


def _cluster_id() -> str:
    """A random KRaft cluster id; never starting with '-', which the storage tool would read as an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker:
    def __init__(
        self,
        data_root: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
    ) -> None:
        self.data_root = data_root
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.proc: ManagedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_properties(self) -> Path:
        props = self.data_root / "server.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.data_root / 'data'}",
                    "num.partitions=6",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        return props

    def start(self, timeout: float = 90.0) -> None:
        libs = ensure_jars()
        self.data_root.mkdir(parents=True, exist_ok=True)
        props = self._write_properties()
        classpath = f"{libs}/*"
        log4j = repo_root() / "deploy" / "kafka" / "log4j2.yaml"
        if not (self.data_root / "data" / "meta.properties").exists():
            subprocess.run(
                [
                    "java",
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(props),
                    "--standalone",
                ],
                check=True,
                capture_output=True,
            )
        say(f"starting Kafka {kafka_version()} (KRaft) on {self.bootstrap_servers}")
        self.proc = ManagedProcess(
            "kafka",
            [
                "java",
                "-Xms256m",
                f"-Xmx{self.heap}",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={log4j}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(props),
            ],
            log_path=self.data_root / "kafka.log",
        )
        wait_until(self._answers, timeout=timeout, what="Kafka", interval=0.3, alive=self.proc.alive)

    def _answers(self) -> bool:
        # Cheap port probe first (keeps client connection noise out of the output),
        # then the real readiness check: a metadata request.
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return asyncio.run(broker_answers(self.bootstrap_servers))

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(timeout=30)
            self.proc = None

    def restart(self, timeout: float = 90.0) -> None:
        """Start again on the same data and ports, once the broker has exited (killed, or stopped)."""
        if self.proc and self.proc.alive():
            raise RuntimeError("Kafka is still running")
        self.stop()  # closes the dead process's log
        self.start(timeout)


async def broker_answers(bootstrap_servers: str) -> bool:
    """Readiness by a real metadata request through the admin client, not a port check."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
        return bool(cluster.get("brokers"))
    except Exception:  # noqa: BLE001 - not ready yet
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
