"""The api-key CLI against the real PostgreSQL: the same use cases and outbox as the admin API."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
