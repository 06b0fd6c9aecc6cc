"""What every command shares: the API client, the clock and the choice of output."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from tierline_cli import render
from tierline_cli.client import Api
from tierline_cli.config import Target, discover

F = TypeVar("F", bound=Callable[..., Any])


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """The command's context object; tests build one with their own environment and transport."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    transport: httpx.BaseTransport | None = None
    clock: Callable[[], datetime] = _utc_now
    is_json: bool = False
    _api: Api | None = None

    @property
    def target(self) -> Target:
        return self.api.target

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(discover(self.environ, self.cwd), transport=self.transport)
        return self._api

    def output(self, data: Any, for_people: Callable[[Any], None]) -> None:
        """The API's JSON as it came (--json), else what ``for_people`` prints of it."""
        if self.is_json:
            render.emit_json(data)
        else:
            for_people(data)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


pass_app = click.make_pass_decorator(App)


def _set_json(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_object(App).is_json = True  # type: ignore[union-attr]


def json_option(f: F) -> F:
    """--json on a command, as well as on `tierline` itself."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print the API's JSON answer instead of a table.",
    )(f)
