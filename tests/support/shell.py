"""One bash session that runs commands one at a time, so variables and functions carry over between them."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Ran:
    status: int  # the command's exit status (0: the session is still alive)
    stdout: str
    stderr: str


class Shell:
    """``bash`` reading its script from a pipe, with ``prelude`` run first (e.g. ``set -euo pipefail``).

    Each command's output goes to files, and bash prints a token when the command is done; under
    ``set -e`` a failing command ends the session, and ``run`` reports its exit status instead.
    """

    def __init__(self, cwd: Path, env: dict[str, str], prelude: str) -> None:
        self.folder = cwd / f".shell-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir()
        self._session_err = open(self.folder / "session.err", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._session_err,
            start_new_session=True,  # its own process group: close() ends what the commands started too
        )
        self._buffer = b""
        self._send(prelude + "\n")

    def run(self, command: str, timeout: float) -> Ran:
        token = f"done-{uuid.uuid4().hex}"
        out, err = self.folder / "out", self.folder / "err"
        # stdin from /dev/null: a command must not read the rest of the script.
        self._send(f"{{ {command}\n}} </dev/null >{out} 2>{err}\nprintf '%s\\n' {token}\n")
        outcome = self._wait_for(token, timeout)
        if outcome == "timeout":
            self.close()
            raise TimeoutError(f"no answer within {timeout} s")
        if outcome == "done":
            return Ran(0, _read(out), _read(err))
        status = self.proc.wait(timeout=10)  # bash closed its stdout: it is ending
        return Ran(status, _read(out), _read(err) + _read(self.folder / "session.err"))

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except BrokenPipeError:  # the session ended (set -e); the caller sees it in run()
            pass

    def _wait_for(self, token: str, timeout: float) -> str:
        """ "done" when bash printed the token, "ended" when it closed its output first, else "timeout"."""
        assert self.proc.stdout is not None
        fd, line = self.proc.stdout.fileno(), token.encode() + b"\n"
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while line not in self._buffer:
                if not selector.select(max(deadline - time.monotonic(), 0)):
                    return "timeout"
                chunk = os.read(fd, 65536)
                if not chunk:
                    return "ended"
                self._buffer += chunk
        self._buffer = self._buffer.split(line, 1)[1]
        return "done"

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe:
                pipe.close()
        self._session_err.close()


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
