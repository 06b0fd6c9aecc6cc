"""Child processes that cannot outlive us, free ports, and waiting with a deadline."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def say(message: str) -> None:
    """Progress for people: launcher steps go to stderr, one line each."""
    print(f"[tierline] {message}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    # If the launcher is killed outright, the kernel sends SIGTERM to the child.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on ``host:port`` (a TCP connection is taken, then closed)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll until predicate() holds; fail fast when the process we wait on died."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: the process exited before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(interval)


class ManagedProcess:
    """A child process with its output in a log file, stopped gently then firmly."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.user = user
        self.log_path = log_path
        self.stop_signal = stop_signal
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a log in a folder another account owns must not lead us elsewhere
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        self._log = os.fdopen(os.open(log_path, flags, 0o644), "ab")
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            user=self.user,
            group=_primary_group(self.user) if self.user else None,
            extra_groups=[] if self.user else None,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
            preexec_fn=_die_with_parent,
        )

    def respawn(self) -> None:
        """Start the same command again once it has exited (its log goes on in the same file)."""
        if self.alive():
            raise RuntimeError(f"{self.name} is still running")
        self.proc = self._spawn()

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        """The log's last lines (read from its end: logs grow for as long as the system runs)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 64 * 1024))
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        try:
            if self.alive():
                try:
                    self.proc.send_signal(self.stop_signal)
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    say(f"{self.name} did not stop in {timeout:.0f}s; killing it")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(10)
                except ProcessLookupError:
                    pass
        finally:
            self._log.close()


def _primary_group(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


class Supervisor:
    """Restarts processes that exit, with backoff, like compose's ``restart: unless-stopped``.

    ``check()`` is called from the launcher's main loop; it never blocks. A process that
    stays up for ``healthy_after`` seconds has its backoff reset.
    """

    def __init__(
        self,
        procs: dict[str, ManagedProcess],
        *,
        initial_delay: float = 1.0,
        max_delay: float = 30.0,
        healthy_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.procs = procs
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.healthy_after = healthy_after
        self.clock = clock
        now = clock()
        self._delay = dict.fromkeys(procs, initial_delay)
        self._started = dict.fromkeys(procs, now)
        self._due: dict[str, float] = {}
        self.restarts = dict.fromkeys(procs, 0)

    def check(self) -> list[str]:
        """Schedule a restart for every process that exited; restart those whose time has come."""
        now = self.clock()
        restarted = []
        for name, proc in self.procs.items():
            if proc.alive():
                if now - self._started[name] >= self.healthy_after:
                    self._delay[name] = self.initial_delay
                continue
            if name not in self._due:
                delay = self._delay[name]
                self._due[name] = now + delay
                self._delay[name] = min(delay * 2, self.max_delay)
                say(f"{name} exited with code {proc.returncode}; restarting it in {delay:.0f}s")
                tail = proc.tail(20)
                if tail:
                    print(f"--- last lines of {proc.log_path} ---\n{tail}", file=sys.stderr, flush=True)
            elif now >= self._due[name]:
                try:
                    proc.respawn()
                except OSError as exc:  # cannot even start it: keep trying, like compose
                    delay = self._delay[name]
                    self._due[name] = now + delay
                    self._delay[name] = min(delay * 2, self.max_delay)
                    say(f"could not restart {name} ({exc}); trying again in {delay:.0f}s")
                    continue
                del self._due[name]
                self._started[name] = now
                self.restarts[name] += 1
                restarted.append(name)
                say(f"restarted {name} (pid {proc.pid}, restart #{self.restarts[name]})")
        return restarted
