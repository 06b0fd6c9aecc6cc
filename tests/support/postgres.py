"""asyncpg.connect's keyword arguments for a database URL: the bench and the chaos run read SQL directly."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url


def connect_args(url: str) -> dict[str, Any]:
    u = make_url(url)
    return {
        "host": u.host,
        "port": u.port,
        "user": u.username,
        "password": u.password,
        "database": u.database,
    }
