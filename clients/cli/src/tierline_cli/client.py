"""HTTP calls to the four services; every expected failure becomes one line for the user."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import click
import httpx

from tierline_cli import __version__
from tierline_cli.config import Target

TIMEOUT_SECONDS = 10.0
MAX_TEXT = 300  # characters of a non-problem error body worth showing


class CliError(click.ClickException):
    """An expected failure: "Error: <message>" on stderr and exit code 1, no traceback."""


def segment(value: str) -> str:
    """A name or id as one URL path segment (``/`` and ``?`` in a name must not change the path)."""
    return quote(value, safe="")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def problem_line(status: int, payload: Any, raw: str = "") -> str:
    """An RFC 9457 problem (or any error answer) as one line: status, title, detail, field errors."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    if not isinstance(payload, dict) or not ({"title", "detail"} & payload.keys()):
        text = _one_line(raw)[:MAX_TEXT]
        return f"{status} {reason}" + (f": {text}" if text else "")
    title = _one_line(payload.get("title") or reason)
    line = f"{payload.get('status', status)} {title}"
    detail = _one_line(payload.get("detail") or "")
    if detail and detail != title:
        line += f": {detail}"
    fields = [
        f"{_one_line(e.get('field', '?'))}: {_one_line(e.get('reason', 'invalid'))}"
        for e in payload.get("errors") or []
        if isinstance(e, dict)
    ]
    if fields:
        line += f" ({'; '.join(fields)})"
    return line


class Api:
    """One HTTP client for the whole system, authenticated with the key the environment gave."""

    def __init__(
        self,
        target: Target,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.target = target
        self.timeout = timeout
        headers = {"User-Agent": f"tierline-cli/{__version__}", "Accept": "application/json"}
        if target.key:
            headers["Authorization"] = f"Bearer {target.key}"
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def url(self, service: str, path: str) -> str:
        return self.target.urls[service] + path

    def request(self, method: str, service: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send, and raise CliError for an unreachable service or an error answer."""
        base = self.target.urls[service]
        try:
            response = self._http.request(method, base + path, **kwargs)
        except httpx.ConnectError:
            raise CliError(
                f"{service} is not reachable at {base}: is Tierline running? Start it with `make run`, "
                f"or point {self.target.url_variable(service)} at it."
            ) from None
        except httpx.TimeoutException:
            raise CliError(f"{service} at {base} did not answer within {self.timeout:g} s.") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise CliError(f"{service} at {base}: {_one_line(str(exc)) or type(exc).__name__}") from None
        if response.is_error:
            raise CliError(self._error_line(response))
        return response

    def call(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a call (None for an empty one)."""
        response = self.request(method, service, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{service} answered {response.status_code} with something other than JSON."
            ) from None

    def _error_line(self, response: httpx.Response) -> str:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        line = problem_line(response.status_code, payload, response.text)
        if response.status_code == 401 and not self.target.key:
            line += (
                " - no API key found: set TIERLINE_KEY (a local `make run` keeps one in .run/dev-api-key,"
                " found by itself from the checkout)"
            )
        elif response.status_code == 401 and self.target.key_origin:
            line += f" - the key came from {self.target.key_origin}"
        return line

    def close(self) -> None:
        self._http.close()
