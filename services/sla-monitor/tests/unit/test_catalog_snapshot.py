"""The catalog snapshot a process keeps per version: read-only, and built once per version."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tierline_shared.catalog.versions import ByVersion
from tierline_sla_monitor.domain.catalog import Catalog
from tierline_sla_monitor.domain.policy import DEFAULT_POLICIES


def test_the_snapshot_cannot_be_changed_in_place() -> None:
    policies = list(DEFAULT_POLICIES)
    catalog = Catalog(calendars=[], policies=policies)
    policies.clear()  # the caller's list is not the snapshot's
    assert len(catalog.policies) == len(DEFAULT_POLICIES)
    with pytest.raises(AttributeError):
        catalog.policies.append(DEFAULT_POLICIES[0])  # type: ignore[attr-defined]


def test_built_once_per_version_and_only_the_last_few_kept() -> None:
    kept: ByVersion[str] = ByVersion(keep=2)
    v1, v2, v3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def run() -> list[str]:
        async def build(tag: str) -> str:
            return tag

        return [
            await kept.get(v1, lambda: build("a")),
            await kept.get(v1, lambda: build("b")),
            await kept.get(v2, lambda: build("c")),
            await kept.get(v3, lambda: build("d")),
            await kept.get(v1, lambda: build("e")),
        ]

    assert asyncio.run(run()) == ["a", "a", "c", "d", "e"]
    assert kept.builds == 4
