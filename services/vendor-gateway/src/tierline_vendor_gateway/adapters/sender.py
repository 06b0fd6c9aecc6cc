"""One HTTP attempt at a vendor's webhook: never follows redirects, always bounded in time."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class AttemptResult:
    status: int | None
    latency_seconds: float
    response_excerpt: str
    error: str | None
    retry_after: str | None
    final: bool = False  # no retry can change the outcome (refused by the SSRF guard, endpoint disabled)


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> AttemptResult:
    started = time.perf_counter()
    try:
        response = await client.post(
            url, content=body, headers=headers, timeout=timeout, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        return AttemptResult(
            None, time.perf_counter() - started, "", f"{type(exc).__name__}: {exc}"[:500], None
        )
    return AttemptResult(
        status=response.status_code,
        latency_seconds=time.perf_counter() - started,
        response_excerpt=response.text[:2048],
        error=None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}",
        retry_after=response.headers.get("retry-after"),
    )
