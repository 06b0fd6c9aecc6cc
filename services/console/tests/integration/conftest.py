"""A real intake (its own database on the real PostgreSQL, its topics on the real Kafka) served on a
loopback port, and a console in-process whose intake is that one."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tierline_console.app import create_app
from tierline_console.config import Settings
from tierline_intake.bootstrap import create_app as create_intake_app
from tierline_intake.config import Settings as IntakeSettings
from tierline_shared import migrations
from tierline_shared.testing import ServerThread

ROOT = Path(__file__).resolve().parents[4]
INTAKE_MIGRATIONS = ROOT / "services" / "intake" / "migrations"
CONFIG_DIR = ROOT / "deploy" / "config"
ADMIN_KEY = "tl_test-admin-key-for-console-integration-tests"
CONSOLE = "http://127.0.0.1:8000"  # plain HTTP on loopback: cookies without Secure, as `make run` serves


@dataclass
class Intake:
    url: str
    prefix: str  # its topics' prefix (events for it go there)
    bootstrap_servers: str
    admin: httpx.Client  # calls it with the admin key

    def issue_key(self, name: str, scopes: list[str], person: str | None = None) -> dict[str, str]:
        body = {"name": name, "scopes": scopes, **({"person": person} if person else {})}
        response = self.admin.post("/v1/api-keys", json=body)
        assert response.status_code == 201, response.text
        issued: dict[str, str] = response.json()
        return issued


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def intake(infra, new_database) -> Iterator[Intake]:  # type: ignore[no-untyped-def]
    url = new_database("intake")
    migrations.upgrade(INTAKE_MIGRATIONS, url)
    prefix = f"t-{uuid.uuid4().hex[:8]}."
    settings = IntakeSettings(
        database_url=url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        bootstrap_api_key=ADMIN_KEY,
        config_dir=CONFIG_DIR,
        kafka_topic_prefix=prefix,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        ServerThread(create_intake_app(settings), port),
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as admin,
    ):
        yield Intake(url=base, prefix=prefix, bootstrap_servers=infra.bootstrap_servers, admin=admin)


def console_settings(intake: Intake) -> Settings:
    closed = f"http://127.0.0.1:{free_port()}"  # the other services do not run here (even beside `make run`)
    return Settings(
        console_secret=SecretStr(Fernet.generate_key().decode()),
        intake_url=intake.url,
        router_url=closed,
        sla_monitor_url=closed,
        vendor_gateway_url=closed,
        notifier_url=closed,
        kafka_bootstrap_servers=intake.bootstrap_servers,
        kafka_topic_prefix=intake.prefix,  # the live feed reads intake's topics
        topic_partitions=1,
    )


@pytest.fixture
def console(intake: Intake) -> Iterator[TestClient]:
    with TestClient(create_app(console_settings(intake)), base_url=CONSOLE) as client:
        yield client


@dataclass
class ServedConsole:
    url: str
    app: FastAPI

    def live_ready(self) -> bool:
        """The live feed reads every topic from its end (events from now on reach /live)."""
        return bool(self.app.state.live_feed.ready.is_set())


@pytest.fixture
def served_console(intake: Intake) -> Iterator[ServedConsole]:
    """The console on a loopback port (a real HTTP server: /live streams, as a browser sees it)."""
    app = create_app(console_settings(intake))
    port = free_port()
    with ServerThread(app, port):
        yield ServedConsole(url=f"http://127.0.0.1:{port}", app=app)


def sign_in(console: TestClient | httpx.Client, api_key: str) -> httpx.Response:
    """Fill in and send the sign-in form as a browser does (its CSRF token and cookie included)."""
    form = console.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return console.post(
        "/signin", data={"api_key": api_key, "csrf_token": token.group(1)}, follow_redirects=False
    )
