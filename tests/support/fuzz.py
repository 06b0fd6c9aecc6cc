"""The plumbing the services' schemathesis modules (tests/integration/test_openapi_fuzz.py) share.

Each service's module keeps what is its own (its app and settings, its config files, the resources
it seeds, its known bugs and extra checks); this module holds the rest:

- ``Fuzzed``: the service's ``create_app`` and ``Settings`` with its test admin key; it writes its
  config files into a directory, reads the OpenAPI document the app serves (at import, so that
  pytest collects one test per operation) and makes the schemathesis schema sending that key.
- ``Fuzzed.running``: the app started once inside a Starlette TestClient (which runs its
  lifespan), checked to serve the schema under test, reached through ``Api``.
- ``Api``: a requests session whose adapter hands each prepared request to that client, so the app
  runs in-process and schemathesis never starts a lifespan of its own; ``existing`` names resources
  that exist, so that a request whose path names one is sent a second time (``call_and_twin``).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis import Case

from tierline_shared.testing import in_process_adapter, naming_existing, served_openapi

BASE_URL = "http://testserver"


class Api(requests.Session):
    """The running app, reached through requests, and ids of resources that exist in it."""

    def __init__(
        self,
        client: TestClient,
        prepare: Callable[[requests.PreparedRequest, bytes | None], None] | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.mount("http://", in_process_adapter(client, prepare=prepare))
        self.existing: dict[str, str] = {}  # path parameter -> a value naming something that exists


@dataclass(frozen=True)
class Fuzzed:
    """One service under schemathesis: its app, its settings and the config files it reads."""

    create_app: Callable[[Any], FastAPI]
    settings_type: Callable[..., Any]
    admin_key: str
    write_config: Callable[[Path], None] | None = None  # writes the service's files into a config dir
    config_dir: Path | None = None  # a fixed config dir instead (write_config is then not used)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def settings(self, config_dir: Path, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "bootstrap_api_key": self.admin_key,
            "config_dir": config_dir,
            "rate_limit_per_minute": 1_000_000,  # fuzzing must not be throttled
            **overrides,
        }
        return self.settings_type(**values)

    def _config(self, directory: Path | None) -> Path:
        if self.config_dir is not None:
            return self.config_dir
        assert self.write_config is not None and directory is not None, "no config dir to write into"
        self.write_config(directory)
        return directory

    def served_openapi(self) -> dict[str, Any]:
        """The document the app serves at /openapi.json, with the config files of these tests."""
        with tempfile.TemporaryDirectory(prefix="openapi-fuzz-") as directory:
            config_dir = self._config(Path(directory))
            return served_openapi(self.create_app, lambda **overrides: self.settings(config_dir, **overrides))

    def schema(self, openapi: Mapping[str, Any]) -> Any:
        """The schemathesis schema of ``openapi``, every request sending the admin key."""
        schema = schemathesis.openapi.from_dict(dict(openapi))
        schema.config.update(headers=self.auth)
        return schema

    @contextmanager
    def running(
        self,
        openapi: Mapping[str, Any],
        *,
        infra: Any,
        database_url: str,
        config_dir: Path | None = None,
        **overrides: Any,
    ) -> Iterator[TestClient]:
        """The app on the test servers under a topic prefix of its own (its config files written
        into ``config_dir``), its lifespan running, serving exactly ``openapi``."""
        settings = self.settings(
            self._config(config_dir),
            database_url=database_url,
            kafka_bootstrap_servers=infra.bootstrap_servers,
            kafka_topic_prefix=f"t-{uuid.uuid4().hex[:8]}.",
            **overrides,
        )
        app = self.create_app(settings)
        # raise_server_exceptions=False: an unhandled error comes back as the 500 a client would get
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
            assert client.get("/openapi.json").json() == openapi, (
                "the schema under test is not the one served"
            )
            yield client

    def created(self, client: TestClient, path: str, body: dict[str, Any], field: str = "id") -> str:
        """POSTs ``body`` to ``path`` with the admin key; the ``field`` of what was created."""
        response = client.post(path, json=body, headers=self.auth)
        assert response.status_code == 201, response.text
        return str(response.json()[field])


def call_and_twin(
    case: Case, api: Api, checks: list[Any], existing: Mapping[str, str] | None = None
) -> Case | None:
    """Sends ``case`` with ``checks``; then, where its path names something ``existing`` (default:
    ``api.existing``) has a value for, the same case naming that value. Returns that twin, if any."""
    case.call_and_validate(base_url=BASE_URL, session=api, checks=checks)
    twin = naming_existing(case, api.existing if existing is None else existing)
    if twin is not None:
        twin.call_and_validate(base_url=BASE_URL, session=api, checks=checks)
    return twin
