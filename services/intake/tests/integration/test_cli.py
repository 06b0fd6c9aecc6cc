"""The api-key CLI against the real PostgreSQL: the same use cases and outbox as the admin API."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tierline_launcher.postgres import PostgresServer
from tierline_shared import migrations
from tierline_shared.testing import query_value

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIERLINE_DATABASE_URL": url, "TIERLINE_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "tierline_intake", "api-key", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_list_revoke(new_database) -> None:
    url = new_database("intake_cli")
    migrations.upgrade(MIGRATIONS, url)
    created = _cli(
        url, "create", "--name", "ci-bot", "--scope", "incidents:write", "--scope", "incidents:read"
    )
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    assert issued["key"].startswith("tl_") and issued["scopes"] == ["incidents:read", "incidents:write"]
    digest = hashlib.sha256(issued["key"].encode()).hexdigest()
    assert query_value(url, f"SELECT count(*) FROM api_keys WHERE key_hash = '{digest}'") == 1
    assert (
        query_value(url, "SELECT count(*) FROM outbox WHERE event_type = 'tierline.apikey.created.v1'") == 1
    )

    listed = json.loads(_cli(url, "list").stdout)
    assert [k["name"] for k in listed] == ["ci-bot"] and "key" not in listed[0]

    assert _cli(url, "revoke", issued["id"]).returncode == 0
    assert query_value(url, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL") == 1
    assert (
        query_value(url, "SELECT count(*) FROM outbox WHERE event_type = 'tierline.apikey.revoked.v1'") == 1
    )


def test_bad_arguments_exit_non_zero(new_database) -> None:
    url = new_database("intake_cli")
    result = _cli(url, "create", "--name", "x", "--scope", "root")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_finds_the_make_run_database_without_tierline_database_url(infra, tmp_path: Path) -> None:
    """`make run` leaves .run/ in the checkout; from there the CLI needs no TIERLINE_DATABASE_URL."""
    if not isinstance(infra.postgres, PostgresServer):
        pytest.skip("the suite runs on an external PostgreSQL; `make run` embeds its own")
    url = infra.create_database("intake")  # the name `make run` gives intake's database
    migrations.upgrade(MIGRATIONS, url)
    (tmp_path / ".run").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env |= {"TIERLINE_RUN_POSTGRES_PORT": str(infra.postgres.port), "TIERLINE_LOG_LEVEL": "WARNING"}
    created = subprocess.run(
        [sys.executable, "-m", "tierline_intake", "api-key", "create", "--name", "local", "--scope", "admin"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""
    issued = json.loads(created.stdout)
    assert query_value(url, f"SELECT count(*) FROM api_keys WHERE id = '{issued['id']}'") == 1


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """It used to be ~100 lines of asyncpg traceback."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "tierline_intake", "api-key", "list"],
        env={**os.environ, "TIERLINE_DATABASE_URL": f"postgresql://tierline@127.0.0.1:{port}/intake"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"tierline-intake: cannot use the database at postgresql://tierline@127.0.0.1:{port}/intake: "
    )


def test_help_lists_api_key() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "tierline_intake", "--help"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0
    assert "api-key" in shown.stdout and "serve" in shown.stdout and "migrate" in shown.stdout
