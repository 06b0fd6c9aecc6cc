"""Infrastructure (embedded or external) and the Tierline services as separate processes."""

from __future__ import annotations

import asyncio
import base64
import functools
import os
import secrets
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from tierline_launcher.kafka import KafkaBroker
from tierline_launcher.postgres import PostgresServer
from tierline_launcher.procs import ManagedProcess, free_port, say, wait_until


@dataclass(frozen=True)
class ServiceDef:
    """A service the launcher runs; ``has_database``: it gets its own database, migrated first."""

    name: str
    module: str
    default_port: int
    has_database: bool = True

    @property
    def database(self) -> str:
        if not self.has_database:
            raise ValueError(f"{self.name} has no database")
        return self.name.replace("-", "_")

    @property
    def env_name(self) -> str:
        return self.name.replace("-", "_").upper()


# Started in this order; the console last, since it reads all the others (its /readyz asks them).
SERVICES = (
    ServiceDef("intake", "tierline_intake", 8001),
    ServiceDef("router", "tierline_router", 8002),
    ServiceDef("sla-monitor", "tierline_sla_monitor", 8003),
    ServiceDef("vendor-gateway", "tierline_vendor_gateway", 8004),
    ServiceDef("notifier", "tierline_notifier", 8005),
    ServiceDef("console", "tierline_console", 8000, has_database=False),
)
DATABASE_SERVICES = tuple(s for s in SERVICES if s.has_database)
CONSOLE = "console"
CONSOLE_SECRET = "TIERLINE_CONSOLE_SECRET"


def new_console_secret() -> str:
    """A Fernet key (32 random bytes, url-safe base64), as `python -m tierline_console secret` prints."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def url_variable(service: ServiceDef) -> str:
    """Where services find each other: TIERLINE_INTAKE_URL, TIERLINE_SLA_MONITOR_URL, ..."""
    return f"TIERLINE_{service.env_name}_URL"


class ExternalPostgres:
    """A server named by TIERLINE_DATABASE_URL; one database per service is created on it."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.base = make_url(url.replace("postgres://", "postgresql://", 1)).set(
            drivername="postgresql+asyncpg"
        )

    def url(self, database: str) -> str:
        return self.base.set(database=database).render_as_string(hide_password=False)

    def create_database(self, name: str) -> None:
        asyncio.run(self._create(name))

    async def _create(self, name: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=self.base.host,
            port=self.base.port or 5432,
            user=self.base.username,
            password=self.base.password,
            database="postgres",
        )
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    def stop(self) -> None:
        pass


def _port_env(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# `make run` keeps its data between runs, so its servers keep their ports too
# (KRaft records the controller endpoint when storage is formatted).
RUN_PORTS: dict[str, int | None] = {
    "postgres": _port_env("TIERLINE_RUN_POSTGRES_PORT", 55432),
    "kafka": _port_env("TIERLINE_RUN_KAFKA_PORT", 9092),
    "kafka-controller": _port_env("TIERLINE_RUN_KAFKA_CONTROLLER_PORT", 9093),
}


# The development mail catcher `make run` points the notifier at (tierline_launcher.mail_catcher).
MAIL_PORT = _port_env("TIERLINE_RUN_MAIL_PORT", 1025)
MAIL_LISTEN = "127.0.0.1:2525"  # intake's SMTP receiver under `make run` (TIERLINE_MAIL_LISTEN)


def service_ports() -> dict[str, int]:
    """Each service's port for `make run`: its default, or TIERLINE_RUN_<SERVICE>_PORT."""
    return {s.name: _port_env(f"TIERLINE_RUN_{s.env_name}_PORT", s.default_port) for s in SERVICES}


# Variables the launcher reads itself; they are not handed to the services.
LAUNCHER_VARIABLES: dict[str, str] = {
    "TIERLINE_RUN_DIR": "Where `make run` keeps its data, logs and development key (default `.run/`).",
    "TIERLINE_CACHE_DIR": "Download cache (Kafka jars; default `.cache/`).",
    "TIERLINE_HOME": "The checkout, when the launcher cannot find it from its own location.",
    "TIERLINE_RUN_POSTGRES_PORT": "PostgreSQL's port for `make run` (55432).",
    "TIERLINE_RUN_KAFKA_PORT": "Kafka's port for `make run` (9092).",
    "TIERLINE_RUN_KAFKA_CONTROLLER_PORT": "The KRaft controller's port for `make run` (9093).",
    "TIERLINE_RUN_MAIL_PORT": "The development mail catcher's SMTP port for `make run` (1025); the notifier "
    "sends there and the mail is written to `logs/mail.log` in the run folder. Not started when "
    "`TIERLINE_SMTP_HOST` is set.",
    **{
        f"TIERLINE_RUN_{s.env_name}_PORT": f"{s.name}'s port for `make run` ({s.default_port})."
        for s in SERVICES
    },
    **{
        f"TIERLINE_{s.env_name}_DATABASE_URL": f"Use this database for {s.name} instead of creating one."
        for s in DATABASE_SERVICES
    },
    "TIERLINE_DATABASE_URL": "A PostgreSQL server to use instead of the embedded one "
    "(one database per service is created on it).",
    "KAFKA_BOOTSTRAP_SERVERS": "A Kafka cluster to use instead of the embedded broker "
    "(`TIERLINE_KAFKA_BOOTSTRAP_SERVERS` works too).",
}
# Settings the launcher decides for every service, whatever the environment says: among them
# each service's URL (TIERLINE_INTAKE_URL, ...), since it decides the ports.
LAUNCHER_OWNED = frozenset(
    {
        "TIERLINE_DATABASE_URL",
        "TIERLINE_KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_BOOTSTRAP_SERVERS",
        "TIERLINE_PORT",
        "TIERLINE_HOST",  # readiness checks and the services' URLs of each other are on 127.0.0.1
        "TIERLINE_PUBLIC_URL",
        *(url_variable(s) for s in SERVICES),
    }
)
PER_SERVICE_SEPARATOR = "__"


def settings_from_environment(environ: Mapping[str, str], service: ServiceDef) -> dict[str, str]:
    """The user's TIERLINE_* settings for one service, in the services' own spelling.

    ``TIERLINE_X`` applies to every service; ``TIERLINE_<SERVICE>__X`` (e.g.
    ``TIERLINE_ROUTER__LOG_LEVEL``) to that service only, and wins. The launcher's own
    variables and what it must decide itself (database URLs, ports, Kafka) are left out.
    """
    own_prefixes = tuple(f"TIERLINE_{s.env_name}{PER_SERVICE_SEPARATOR}" for s in SERVICES)
    shared, scoped = {}, {}
    mine = f"TIERLINE_{service.env_name}{PER_SERVICE_SEPARATOR}"
    for key, value in environ.items():
        if not key.startswith("TIERLINE_") or key in LAUNCHER_VARIABLES:
            continue
        if key.startswith(mine):
            scoped["TIERLINE_" + key[len(mine) :]] = value
        elif not key.startswith(own_prefixes):
            shared[key] = value
    merged = shared | scoped
    return {k: v for k, v in merged.items() if k not in LAUNCHER_OWNED}


# Where `make run` points the notifier's mail unless the user names an SMTP server, and the
# chat webhooks it lets reach loopback (a local receiver) unless the user allow-lists others.
LOCAL_ALLOW_HOSTS = "127.0.0.1,localhost"
# the notifier signs acknowledge and CSAT links, intake verifies; the router signs calendar feed links
LINK_SERVICES = ("intake", "notifier", "router")


def user_sets(environ: Mapping[str, str], service: str, variable: str) -> bool:
    """Whether the user's environment gives ``service`` this setting (shared or scoped to it)."""
    definition = next(s for s in SERVICES if s.name == service)
    return variable in settings_from_environment(environ, definition)


def development_settings(
    environ: Mapping[str, str], *, mail_port: int | None, link_secret: str, console_secret: str | None = None
) -> dict[str, dict[str, str]]:
    """Per service, what `make run` sets for a working local system where the user set nothing.

    The notifier mails the local catcher on ``mail_port`` (host, port and plain SMTP, since the
    launcher then decides the server) unless ``TIERLINE_SMTP_HOST`` is set (``mail_port`` is
    None then: no catcher runs); chat webhooks may reach loopback unless
    ``TIERLINE_NOTIFY_ALLOW_HOSTS`` is set; intake, the notifier and the router share ``link_secret``
    unless ``TIERLINE_LINK_SECRET`` is set; the console seals its sessions with
    ``console_secret`` (when given) unless ``TIERLINE_CONSOLE_SECRET`` is set; intake takes mail
    on MAIL_LISTEN (the mailboxes of deploy/config/mailboxes.yaml) unless ``TIERLINE_MAIL_LISTEN`` is set.
    """
    settings: dict[str, dict[str, str]] = {s.name: {} for s in SERVICES}
    notifier = settings["notifier"]
    if mail_port is not None and not user_sets(environ, "notifier", "TIERLINE_SMTP_HOST"):
        notifier |= {
            "TIERLINE_SMTP_HOST": "127.0.0.1",
            "TIERLINE_SMTP_PORT": str(mail_port),
            "TIERLINE_SMTP_STARTTLS": "false",
            "TIERLINE_SMTP_TLS": "false",
        }
    if not user_sets(environ, "notifier", "TIERLINE_NOTIFY_ALLOW_HOSTS"):
        notifier["TIERLINE_NOTIFY_ALLOW_HOSTS"] = LOCAL_ALLOW_HOSTS
    for service in LINK_SERVICES:
        if not user_sets(environ, service, "TIERLINE_LINK_SECRET"):
            settings[service]["TIERLINE_LINK_SECRET"] = link_secret
    if not user_sets(environ, "intake", "TIERLINE_MAIL_LISTEN"):
        settings["intake"]["TIERLINE_MAIL_LISTEN"] = MAIL_LISTEN
    if console_secret is not None and not user_sets(environ, CONSOLE, CONSOLE_SECRET):
        settings[CONSOLE][CONSOLE_SECRET] = console_secret
    return {name: values for name, values in settings.items() if values}


class Infra:
    """Kafka and PostgreSQL: from the environment when given, else started here."""

    def __init__(self, root: Path, *, durable: bool, ports: dict[str, int | None] | None = None) -> None:
        self.root = root
        self.durable = durable
        self.ports = ports or {}
        self.kafka: KafkaBroker | None = None
        self.postgres: PostgresServer | ExternalPostgres | None = None
        self.bootstrap_servers = ""

    def start(self) -> Infra:
        try:
            external_db = os.environ.get("TIERLINE_DATABASE_URL")
            if external_db:
                say("using the PostgreSQL server from TIERLINE_DATABASE_URL")
                self.postgres = ExternalPostgres(external_db)
            else:
                self.postgres = PostgresServer(
                    self.root / "postgres", durable=self.durable, port=self.ports.get("postgres")
                )
                self.postgres.start()
            external_kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
                "TIERLINE_KAFKA_BOOTSTRAP_SERVERS"
            )
            if external_kafka:
                say(f"using the Kafka cluster at {external_kafka}")
                self.bootstrap_servers = external_kafka
            else:
                self.kafka = KafkaBroker(
                    self.root / "kafka",
                    port=self.ports.get("kafka"),
                    controller_port=self.ports.get("kafka-controller"),
                )
                self.kafka.start()
                self.bootstrap_servers = self.kafka.bootstrap_servers
        except BaseException:
            self.stop()
            raise
        return self

    def database_url(self, database: str) -> str:
        assert self.postgres is not None
        return self.postgres.url(database)

    def server_url(self) -> str:
        """The PostgreSQL server, for people: no database, never a password."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url("postgres"))
        return url.render_as_string(hide_password=True).rsplit("/", 1)[0]

    def create_database(self, database: str) -> str:
        assert self.postgres is not None
        self.postgres.create_database(database)
        return self.postgres.url(database)

    def procs(self) -> dict[str, ManagedProcess]:
        """The servers started here (none when both are external)."""
        procs = {}
        if isinstance(self.postgres, PostgresServer) and self.postgres.proc:
            procs["postgres"] = self.postgres.proc
        if self.kafka and self.kafka.proc:
            procs["kafka"] = self.kafka.proc
        return procs

    def stop(self) -> None:
        if self.kafka:
            say("stopping Kafka")
            self.kafka.stop()
            self.kafka = None
        if self.postgres:
            if isinstance(self.postgres, PostgresServer):
                say("stopping PostgreSQL")
            self.postgres.stop()
            self.postgres = None


def migrate(service: ServiceDef, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", service.module, "migrate"], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrations of {service.name} failed:\n{result.stdout}\n{result.stderr}")


class Services:
    """The Tierline services, each its own process, on the given ports.

    ``service_env`` holds settings for one service each (by name), over the user's;
    ``extra_env`` reaches every service, over everything but what the launcher decides.
    A service without a database gets none and is not migrated. The console gets a sealing
    secret made for this run when neither the user nor ``service_env`` gives one.
    """

    def __init__(
        self,
        infra: Infra,
        *,
        ports: dict[str, int],
        log_dir: Path,
        config_dir: Path,
        database_prefix: str = "",
        extra_env: dict[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.infra = infra
        self.ports = ports
        self.log_dir = log_dir
        self.config_dir = config_dir
        self.database_prefix = database_prefix
        self.extra_env = extra_env or {}
        self.service_env = service_env or {}
        self.procs: dict[str, ManagedProcess] = {}
        self._console_secret = new_console_secret()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env_for(self, service: ServiceDef) -> dict[str, str]:
        """The environment of one service: the user's settings, then what the launcher decides."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
        env.update({"TIERLINE_CONFIG_DIR": str(self.config_dir)})
        env.update(settings_from_environment(os.environ, service))
        env.update(self.service_env.get(service.name, {}))
        if service.name == CONSOLE:
            env.setdefault(CONSOLE_SECRET, self._console_secret)
        if service.has_database:
            own_url = os.environ.get(f"TIERLINE_{service.env_name}_DATABASE_URL")
            database_url = own_url or self.infra.create_database(self.database_prefix + service.database)
            env["TIERLINE_DATABASE_URL"] = database_url
        env.update(
            {
                "TIERLINE_KAFKA_BOOTSTRAP_SERVERS": self.infra.bootstrap_servers,
                "TIERLINE_HOST": "127.0.0.1",
                "TIERLINE_PORT": str(self.ports[service.name]),
                "TIERLINE_PUBLIC_URL": self.url(service.name),
                **{url_variable(s): self.url(s.name) for s in SERVICES if s.name in self.ports},
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90.0) -> None:
        try:
            envs = {s.name: self.env_for(s) for s in SERVICES}
            for service in DATABASE_SERVICES:
                say(f"migrating {service.name}")
                migrate(service, envs[service.name])
            for service in SERVICES:
                self.procs[service.name] = ManagedProcess(
                    service.name,
                    [sys.executable, "-m", service.module, "serve"],
                    log_path=self.log_dir / f"{service.name}.log",
                    env=envs[service.name],
                )
            for service in SERVICES:
                self._wait_ready(service.name, timeout)
                say(f"{service.name} ready at {self.url(service.name)}")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, name: str, timeout: float) -> None:
        proc = self.procs[name]
        try:
            wait_until(
                functools.partial(_ready, self.url(name)),
                timeout=timeout,
                what=name,
                interval=0.2,
                alive=proc.alive,
            )
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"{exc}\n--- {name} log ---\n{proc.tail()}") from exc

    def restart(self, name: str, timeout: float = 90.0) -> None:
        """Start a service (or replica) again once it has exited, and wait until it is ready."""
        self.procs[name].respawn()
        self._wait_ready(name, timeout)

    def add_replica(self, service: str, replica: str, timeout: float = 90.0) -> str:
        """Another process of ``service`` on its database and topics, on a free port; its URL.

        It is stopped with the others; ``replica`` names it in ``procs`` and ``ports``.
        """
        definition = next(s for s in SERVICES if s.name == service)
        self.ports[replica] = free_port()
        env = self.env_for(definition) | {
            "TIERLINE_PORT": str(self.ports[replica]),
            "TIERLINE_PUBLIC_URL": self.url(replica),
        }
        self.procs[replica] = ManagedProcess(
            replica,
            [sys.executable, "-m", definition.module, "serve"],
            log_path=self.log_dir / f"{replica}.log",
            env=env,
        )
        self._wait_ready(replica, timeout)
        return self.url(replica)

    def remove(self, name: str) -> None:
        """Stop one process (a replica, say) gently and forget it."""
        self.procs.pop(name).stop()
        self.ports.pop(name, None)

    def all_alive(self) -> bool:
        return all(p.alive() for p in self.procs.values())

    def pid(self, service: str) -> int:
        return self.procs[service].pid

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            try:
                self.procs[name].stop()
            except Exception as exc:  # noqa: BLE001 - stop the others regardless
                say(f"could not stop {name}: {exc}")
        self.procs.clear()


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False
