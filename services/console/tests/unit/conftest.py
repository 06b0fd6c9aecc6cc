"""Fixtures of the page tests that use pages_app: a recorder of upstream calls answering who the
key is (WRITER), and a console app over it; a module that needs other answers defines its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tierline_shared.clock import FixedClock

from .pages_app import T0, WRITER, Recorder, console_app


@pytest.fixture
def upstream() -> Recorder:
    rec = Recorder()
    rec.answers[("GET", "/v1/access/me")] = WRITER
    return rec


@pytest.fixture
def client(upstream: Recorder) -> Iterator[TestClient]:
    with TestClient(console_app(upstream, FixedClock(T0)), base_url="http://127.0.0.1:8000") as c:
        yield c
