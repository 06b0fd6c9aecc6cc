"""The launcher restarts a process that exits, with backoff, as compose's restart policy does."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tierline_launcher.procs import ManagedProcess, Supervisor, wait_until

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(120)"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sleeper(tmp_path: Path):
    proc = ManagedProcess("sleeper", SLEEPER, log_path=tmp_path / "sleeper.log")
    try:
        yield proc
    finally:
        proc.stop(timeout=5)


def _kill(proc: ManagedProcess) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    wait_until(lambda: not proc.alive(), timeout=10, what="the killed process to exit")


def test_a_killed_process_is_restarted_after_its_delay(sleeper: ManagedProcess, capsys) -> None:
    clock = FakeClock()
    supervisor = Supervisor({"sleeper": sleeper}, initial_delay=1.0, clock=clock)
    first_pid = sleeper.pid
    wait_until(lambda: "up" in sleeper.tail(), timeout=10, what="the sleeper to log")
    assert supervisor.check() == []

    _kill(sleeper)
    assert supervisor.check() == []  # noticed, restart scheduled in 1 s
    err = capsys.readouterr().err
    assert "sleeper exited with code -9; restarting it in 1s" in err
    assert "up" in err  # its last log lines are shown
    clock.now += 0.5
    assert supervisor.check() == [] and not sleeper.alive()
    clock.now += 0.6
    assert supervisor.check() == ["sleeper"]
    assert sleeper.alive() and sleeper.pid != first_pid
    assert supervisor.restarts["sleeper"] == 1


def test_backoff_doubles_while_it_keeps_dying_and_resets_once_healthy(sleeper: ManagedProcess) -> None:
    clock = FakeClock()
    supervisor = Supervisor(
        {"sleeper": sleeper}, initial_delay=1.0, max_delay=4.0, healthy_after=60.0, clock=clock
    )
    waited = []
    for _ in range(4):
        _kill(sleeper)
        supervisor.check()
        start = clock.now
        while not supervisor.check():
            clock.now += 0.25
        waited.append(clock.now - start)
    assert waited == [1.0, 2.0, 4.0, 4.0]  # capped at max_delay

    clock.now += 61  # up for a minute: the next crash is treated as a first one
    supervisor.check()
    _kill(sleeper)
    supervisor.check()
    start = clock.now
    while not supervisor.check():
        clock.now += 0.25
    assert clock.now - start == 1.0


def test_a_stopped_process_leaves_no_child_behind(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", SLEEPER, log_path=tmp_path / "s.log")
    proc.stop(timeout=5)
    assert proc.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_a_process_that_cannot_even_start_is_tried_again_later(tmp_path: Path, capsys) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = ManagedProcess("sleeper", SLEEPER, log_path=tmp_path / "s.log", cwd=workdir)
    clock = FakeClock()
    supervisor = Supervisor({"sleeper": proc}, initial_delay=1.0, clock=clock)
    try:
        _kill(proc)
        workdir.rmdir()  # its working folder is gone: starting it again fails
        supervisor.check()
        clock.now += 1.0
        assert supervisor.check() == []  # the failure is reported, not raised
        assert "could not restart sleeper" in capsys.readouterr().err
        workdir.mkdir()
        clock.now += 2.0
        assert supervisor.check() == ["sleeper"] and proc.alive()
    finally:
        proc.stop(timeout=5)
