"""Cursors: whatever a client sends back is either one we gave out or a 422 naming ``cursor``."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from tierline_shared.errors import InvalidInput
from tierline_shared.pagination import decode_cursor, encode_cursor


def _raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_round_trips() -> None:
    at, ident = datetime(2026, 11, 23, 9, 0, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(at, ident)) == (at, ident)


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        _raw(["2020-01-01T00:00:00+00:00", 1]),  # a number where the id belongs
        _raw([20200101, str(uuid.uuid4())]),
        _raw(["2020-01-01T00:00:00", str(uuid.uuid4())]),  # no offset
        _raw(["0001-01-01T00:00:00+05:00", str(uuid.uuid4())]),  # before UTC's year 1
        _raw({"a": 1}),
        _raw([]),
    ],
)
def test_anything_else_is_a_422_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_cursor(cursor)
    assert refused.value.extensions["errors"][0]["field"] == "cursor"
