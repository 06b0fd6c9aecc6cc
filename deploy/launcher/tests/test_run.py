"""`make run` as a user runs it: from a private folder, with their settings, surviving a crash."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from tierline_launcher import postgres
from tierline_launcher.postgres import reachable_data_root
from tierline_launcher.procs import free_port, wait_until
from tierline_launcher.system import SERVICES

pytestmark = pytest.mark.e2e


def _listening_pid(port: int) -> int | None:
    for conn in psutil.net_connections("tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_make_run_from_a_private_folder_takes_user_settings_and_restarts_a_killed_service() -> None:
    private = Path(tempfile.mkdtemp(prefix="tierline-run-"))  # 0700, like a home directory
    run_dir = private / "run"
    ports = {s.name: free_port() for s in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # the embedded servers, as `make run` starts them
    env |= {
        "TIERLINE_RUN_DIR": str(run_dir),
        "TIERLINE_RUN_POSTGRES_PORT": str(free_port()),
        "TIERLINE_RUN_KAFKA_PORT": str(free_port()),
        "TIERLINE_RUN_KAFKA_CONTROLLER_PORT": str(free_port()),
        **{f"TIERLINE_RUN_{s.env_name}_PORT": str(ports[s.name]) for s in SERVICES},
        "TIERLINE_RATE_LIMIT_PER_MINUTE": "0",  # the user's setting must reach the services
    }
    output = private / "launcher.out"
    with open(output, "wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "tierline_launcher", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    log = lambda: output.read_text(errors="replace")  # noqa: E731
    children: list[psutil.Process] = []
    intake = f"http://127.0.0.1:{ports['intake']}"
    try:
        wait_until(
            lambda: "Tierline is running" in log(),
            timeout=240,
            what="make run",
            interval=0.5,
            alive=lambda: launcher.poll() is None,
        )
        key = (run_dir / "dev-api-key").read_text().strip()

        # The console is what people open: its URL is the banner's first, it is ready, and its
        # sealing secret is kept in the run folder like the link secret.
        console = f"http://127.0.0.1:{ports['console']}"
        banner = log().split("Tierline is running", 1)[1]
        assert banner.split("http://", 1)[1].startswith(console.removeprefix("http://")), banner[:400]
        assert _ready(console)
        assert stat.S_IMODE((run_dir / "console-secret").stat().st_mode) == 0o600

        # The banner's example pastes into a shell as it is.
        example = log().split("Try:\n", 1)[1].split("\n\n", 1)[0]
        created = subprocess.run(["bash", "-c", example], capture_output=True, text=True, timeout=30)
        assert '"priority":"P1"' in created.stdout.replace(" ", ""), created.stdout + created.stderr

        # 650 requests within a minute: more than the default limit of 600, none refused.
        with httpx.Client(base_url=intake, headers={"Authorization": f"Bearer {key}"}, timeout=10) as client:
            answers = (client.get("/v1/incidents", params={"limit": 1}) for _ in range(650))
            statuses = Counter(answer.status_code for answer in answers)
        assert statuses == Counter({200: 650})

        # A crashed service comes back by itself.
        router_port = ports["router"]
        killed = _listening_pid(router_port)
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        wait_until(
            lambda: (
                _listening_pid(router_port) not in (None, killed)
                and _ready(f"http://127.0.0.1:{router_port}")
            ),
            timeout=90,
            what="the router to come back",
            interval=0.5,
            alive=lambda: launcher.poll() is None,
        )
        assert "router exited with code -9" in log() and "restarted router" in log()
        children = psutil.Process(launcher.pid).children(recursive=True)
        assert len(children) >= 6  # PostgreSQL, Kafka and the four services
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = launcher.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            code = launcher.wait(10)
        leftovers = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        data = reachable_data_root(run_dir / "postgres", postgres.run_as())
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
    assert code == 0, log()[-3000:]
    assert not leftovers, f"orphans after Ctrl-C: {leftovers}"
