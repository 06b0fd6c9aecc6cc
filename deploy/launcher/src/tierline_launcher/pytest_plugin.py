"""Pytest fixtures: one real Kafka and one real PostgreSQL for the whole test session.

Loaded from the root conftest. KAFKA_BOOTSTRAP_SERVERS / TIERLINE_DATABASE_URL
point the suite at external servers instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tierline_launcher.system import Infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    # Not tmp_path: pytest makes it 0700, and PostgreSQL runs as another user when we are root.
    root = Path(tempfile.mkdtemp(prefix="tierline-test-"))
    os.chmod(root, 0o755)
    servers = Infra(root, durable=False)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def new_database(infra: Infra) -> Callable[[str], str]:
    """Create a fresh, uniquely named database and return its URL."""

    def create(prefix: str = "t") -> str:
        return infra.create_database(f"{prefix}_{uuid.uuid4().hex[:10]}")

    return create


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names of one test."""
    return uuid.uuid4().hex[:10]
