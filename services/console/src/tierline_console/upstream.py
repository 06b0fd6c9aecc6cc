"""Calls to the other services' public APIs, with the signed-in person's own key.

One ``httpx.AsyncClient`` per upstream (its connection pool, its base URL). A refusal comes back
as ``UpstreamRefused`` whose ``message`` is the problem+json in words ("title: detail", then the
field errors); a 401 as ``SessionEnded`` (the key was revoked: the session ends); an upstream
that cannot be reached or answers too late as ``UpstreamUnavailable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tierline_shared.logging import get_logger

_log = get_logger(__name__)


class UpstreamError(Exception):
    def __init__(self, upstream: str, status: int, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.upstream = upstream
        self.status = status
        self.message = message
        self.errors = errors or []


class UpstreamRefused(UpstreamError):
    """The service answered with a 4xx or 5xx problem."""


class SessionEnded(UpstreamError):
    """The service does not know the key any more (401): the person signs in again."""


class UpstreamUnavailable(UpstreamError):
    """The service cannot be reached, or did not answer in time."""


def problem_message(response: httpx.Response) -> tuple[str, list[str]]:
    """A problem+json answer in words: "title: detail", and its field errors as "field: reason"."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        return f"{response.status_code} {response.reason_phrase}".strip(), []
    title = str(body.get("title") or response.reason_phrase or response.status_code)
    detail = body.get("detail")
    message = f"{title}: {detail}" if detail else title
    errors: list[str] = []
    for err in body.get("errors") or []:
        if isinstance(err, Mapping):
            field, reason = err.get("field"), err.get("reason") or err.get("message") or "invalid"
            errors.append(f"{field}: {reason}" if field else str(reason))
        else:
            errors.append(str(err))
    return message, errors


class Upstreams:
    """The other services, by name ("intake", "router", …), each behind its own client."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = dict(urls)
        self._clients = {
            name: httpx.AsyncClient(
                base_url=url,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
                transport=transport,
                headers={"Accept": "application/json"},
                follow_redirects=False,
            )
            for name, url in urls.items()
        }

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def request(
        self,
        upstream: str,
        method: str,
        path: str,
        api_key: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON answer (None for an empty one) of ``method path`` on ``upstream`` as the key's holder."""
        client = self._clients[upstream]
        try:
            response = await client.request(
                method,
                path,
                params=params,
                json=json,
                headers={**(headers or {}), "Authorization": f"Bearer {api_key}"},
            )
        except httpx.TimeoutException:
            _log.warning("upstream_timeout", upstream=upstream, method=method, path=path)
            raise UpstreamUnavailable(upstream, 504, f"{upstream} did not answer in time") from None
        except httpx.HTTPError as exc:
            _log.warning("upstream_unreachable", upstream=upstream, method=method, path=path, error=str(exc))
            raise UpstreamUnavailable(upstream, 502, f"{upstream} cannot be reached") from None
        if response.status_code == 401:
            message, errors = problem_message(response)
            raise SessionEnded(upstream, 401, message, errors)
        if response.status_code >= 400:
            message, errors = problem_message(response)
            if response.status_code >= 500:
                _log.warning("upstream_failed", upstream=upstream, path=path, status=response.status_code)
            raise UpstreamRefused(upstream, response.status_code, message, errors)
        return response.json() if response.content else None

    async def get(self, upstream: str, path: str, api_key: str, *, params: Any = None) -> Any:
        return await self.request(upstream, "GET", path, api_key, params=params)

    async def post(self, upstream: str, path: str, api_key: str, *, json: Any = None) -> Any:
        return await self.request(upstream, "POST", path, api_key, json=json)

    async def healthy(self, upstream: str) -> bool:
        """Whether ``upstream`` answers its /healthz (no key needed)."""
        try:
            response = await self._clients[upstream].get("/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200
