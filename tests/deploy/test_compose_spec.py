"""docker-compose.yml as `docker compose` itself reads it: the Compose Specification's reference parser.

tests/deploy/composecheck is a small Go program around github.com/compose-spec/compose-go/v2 (the
loader docker compose v2 uses). It interpolates ${VARIABLES} from an env file, applies the
profiles, validates against the schema and checks references (depends_on, volumes), then prints
the resolved project as JSON. It is built once and cached under .cache/composecheck/<hash of its
sources>, so only the first run (or a change to it) pays for the Go build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.binaries import require

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
VENDORS_FILE = ROOT / "deploy" / "config" / "vendors.yaml"
SOURCE_DIR = Path(__file__).resolve().parent / "composecheck"
CACHE_DIR = ROOT / ".cache" / "composecheck"

APPS = {"intake": 8001, "router": 8002, "sla-monitor": 8003, "vendor-gateway": 8004, "notifier": 8005}
MIGRATIONS = {f"migrate-{app}" for app in APPS}
CONSOLE, CONSOLE_PORT = "console", 8000  # no database, so no migration
BASE = {"kafka", "postgres", *APPS, *MIGRATIONS, CONSOLE}
PROFILES = {
    "dev": {"vendor-simulator-acme", "vendor-simulator-globex", "mailpit"},
    "observability": {"prometheus", "grafana"},
}
ADMIN_KEY = "tl_compose-test-admin-key"
CONSOLE_SECRET = "Y29tcG9zZS10ZXN0LWNvbnNvbGUtc2VjcmV0LTMyYg=="  # a Fernet key's shape: 32 bytes, base64url
# Vendor secrets may resolve empty on purpose: the gateway then uses vendors.yaml's development defaults;
# so may the SMTP login (none) and the link secret (messages then carry no links that act).
MAY_BE_EMPTY = re.compile(
    r"TIERLINE_VENDOR_\w+_SECRET|TIERLINE_SMTP_(USERNAME|PASSWORD)|TIERLINE_LINK_SECRET"
    r"|TIERLINE_MAIL_(TLS_CERT|TLS_KEY|AUTH_USERS)|TIERLINE_IMAP_(HOST|USERNAME|PASSWORD|CA_FILE|MAILBOX)"
)

Load = Callable[..., dict[str, Any]]


# ---------------------------------------------------------------------------------------------
# the parser, built once per session
# ---------------------------------------------------------------------------------------------


def _progress(config: pytest.Config, message: str) -> None:
    """A line on the terminal now, through pytest's output capture (the Go build takes a while)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with suspended:
        print(f"\n[composecheck] {message}", file=sys.stderr, flush=True)


def _sources_hash() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def composecheck(pytestconfig: pytest.Config) -> Path:
    binary = CACHE_DIR / _sources_hash() / "composecheck"
    if binary.is_file():
        return binary
    go = require("go", install="install Go 1.24 or later (this machine has it in /usr/local/go/bin)")
    _progress(
        pytestconfig, f"building the compose-spec parser into {binary.relative_to(ROOT)} (first run: ~1 min)"
    )
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(f".{os.getpid()}.partial")
    env = {
        **os.environ,
        "GOFLAGS": "-mod=readonly -buildvcs=false",  # go.sum is the lock: never rewritten by a test
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    started = time.monotonic()
    result = subprocess.run(
        [str(go), "build", "-o", str(partial), "."],
        cwd=SOURCE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"building tests/deploy/composecheck failed:\n{result.stderr[-4000:]}")
    partial.replace(binary)  # atomic: a concurrent run sees the old state or the whole binary
    _progress(pytestconfig, f"built in {time.monotonic() - started:.0f}s")
    return binary


def _run(
    binary: Path, env_file: Path, profiles: tuple[str, ...], *extra: str
) -> subprocess.CompletedProcess[str]:
    args = [str(binary), "-f", str(COMPOSE_FILE), "-env-file", str(env_file), *extra]
    for profile in profiles:
        args += ["-profile", profile]
    # Not this shell's environment: only the env file decides what the compose file sees.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)


def _env_file(path: Path, **values: str) -> Path:
    """.env.example with ``values`` filled in: what an operator's .env looks like."""
    lines = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if "=" in line and name in values else line)
    lines += [f"{name}={value}" for name, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def load(composecheck: Path, tmp_path: Path) -> Load:
    """Resolve the project with the given profiles and .env values (the admin key and the console's
    secret set unless given)."""

    def resolve(*profiles: str, **values: str) -> dict[str, Any]:
        required = {"TIERLINE_BOOTSTRAP_API_KEY": ADMIN_KEY, "TIERLINE_CONSOLE_SECRET": CONSOLE_SECRET}
        env_file = _env_file(tmp_path / ".env", **{**required, **values})
        result = _run(composecheck, env_file, profiles)
        assert result.returncode == 0, (
            f"compose-go refused the file with profiles {profiles}:\n{result.stderr}"
        )
        return json.loads(result.stdout)

    return resolve


def environment(project: dict[str, Any], service: str) -> dict[str, str]:
    return {
        k: "" if v is None else str(v)
        for k, v in (project["services"][service].get("environment") or {}).items()
    }


# ---------------------------------------------------------------------------------------------
# every profile loads, with exactly its services
# ---------------------------------------------------------------------------------------------

PROFILE_SETS = [(), ("dev",), ("observability",), ("dev", "observability")]


@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "no-profile")
def test_the_project_loads_with_each_profile(load: Load, profiles: tuple[str, ...]) -> None:
    project = load(*profiles)
    expected = BASE.union(*(PROFILES[p] for p in profiles))
    assert project["name"] == "tierline"
    assert set(project["services"]) == expected
    assert set(project["disabled_services"]) == set().union(*PROFILES.values()) - expected
    for name, service in project["services"].items():
        wanted = {p for p, members in PROFILES.items() if name in members}
        assert set(service.get("profiles") or []) == wanted, f"{name}: profiles {service.get('profiles')}"


@pytest.mark.parametrize("profiles", PROFILE_SETS, ids=lambda p: "+".join(p) or "no-profile")
def test_no_setting_resolves_empty_by_accident(load: Load, profiles: tuple[str, ...]) -> None:
    """With only the admin key set, every other variable falls back to a working default."""
    project = load(*profiles)
    for name in project["services"]:
        for key, value in environment(project, name).items():
            assert value or MAY_BE_EMPTY.fullmatch(key), f"{name}: {key} resolved to an empty string"
        for word in project["services"][name].get("command") or []:
            option, equals, value = word.partition("=")
            assert value or not equals, f"{name}: argument {option} resolved empty"


def test_every_app_gets_the_admin_key_from_env(load: Load) -> None:
    project = load("dev", "observability", TIERLINE_BOOTSTRAP_API_KEY="tl_from-the-env-file")
    for app in APPS:
        assert environment(project, app)["TIERLINE_BOOTSTRAP_API_KEY"] == "tl_from-the-env-file", app
    for name in set(project["services"]) - set(APPS):
        assert "TIERLINE_BOOTSTRAP_API_KEY" not in environment(project, name), f"{name} needs no admin key"


@pytest.mark.parametrize("missing", ["TIERLINE_BOOTSTRAP_API_KEY", "TIERLINE_CONSOLE_SECRET"])
@pytest.mark.parametrize("key", ["", None], ids=["empty", "absent"])
def test_compose_refuses_to_start_without_a_required_secret(
    composecheck: Path, tmp_path: Path, key: str | None, missing: str
) -> None:
    given = {"TIERLINE_BOOTSTRAP_API_KEY": ADMIN_KEY, "TIERLINE_CONSOLE_SECRET": CONSOLE_SECRET}
    del given[missing]
    if key is None:
        env_file = tmp_path / "only.env"
        env_file.write_text("".join(f"{name}={value}\n" for name, value in given.items()), encoding="utf-8")
    else:
        env_file = _env_file(tmp_path / ".env", **given, **{missing: key})  # .env.example as copied
    result = _run(composecheck, env_file, ())
    assert result.returncode != 0, f"compose accepted a project without {missing}"
    assert missing in result.stderr and ".env" in result.stderr, result.stderr


def test_the_console_gets_its_secret_and_reaches_the_services_by_name(load: Load) -> None:
    project = load("dev", "observability", TIERLINE_CONSOLE_SECRET="bmV3LWtleQ==,b2xkLWtleQ==")
    console = project["services"][CONSOLE]
    env = environment(project, CONSOLE)
    assert env["TIERLINE_CONSOLE_SECRET"] == "bmV3LWtleQ==,b2xkLWtleQ=="  # several keys, to rotate
    networks = set(console["networks"])
    for app, port in APPS.items():
        url = urlsplit(env[f"TIERLINE_{app.replace('-', '_').upper()}_URL"])
        assert (url.hostname, url.port) == (app, port), url
        assert networks & set(project["services"][app]["networks"]), f"the console cannot reach {app}"
        assert console["depends_on"][app]["condition"] == "service_healthy"
    assert [(p["host_ip"], int(p["published"]), p["target"]) for p in console["ports"]] == [
        ("127.0.0.1", CONSOLE_PORT, CONSOLE_PORT)
    ]
    for name in set(project["services"]) - {CONSOLE}:
        assert "TIERLINE_CONSOLE_SECRET" not in environment(project, name), f"{name} needs no console secret"


def test_the_checker_refuses_what_compose_refuses(composecheck: Path, tmp_path: Path) -> None:
    """The parser is not a rubber stamp: a dependency on a service of an inactive profile fails."""
    broken = tmp_path / "compose.yml"
    broken.write_text(
        "services:\n"
        "  app:\n    image: busybox:1.36\n    depends_on: [tool]\n"
        "  tool:\n    image: busybox:1.36\n    profiles: [dev]\n",
        encoding="utf-8",
    )
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    args = [str(composecheck), "-f", str(broken), "-env-file", str(env_file)]
    refused = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0 and "tool" in refused.stderr, refused.stderr
    accepted = subprocess.run(
        [*args, "-profile", "dev"], capture_output=True, text=True, timeout=60, check=False
    )
    assert accepted.returncode == 0, accepted.stderr


# ---------------------------------------------------------------------------------------------
# the dev profile: the gateway reaches the simulators, the simulators reach the gateway
# ---------------------------------------------------------------------------------------------


def _vendors() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in yaml.safe_load(VENDORS_FILE.read_text(encoding="utf-8"))["vendors"]}


def _arguments(project: dict[str, Any], service: str) -> dict[str, list[str]]:
    args: dict[str, list[str]] = {}
    for word in project["services"][service]["command"]:
        name, _, value = word.partition("=")
        args.setdefault(name, []).append(value)
    return args


def _simulator_of(project: dict[str, Any], vendor: str) -> str:
    [name] = [
        name
        for name in PROFILES["dev"]
        if project["services"][name].get("command") and _arguments(project, name).get("--vendor") == [vendor]
    ]
    return name


def test_each_vendor_of_the_shipped_config_has_a_simulator_the_gateway_can_reach(load: Load) -> None:
    project = load("dev")
    gateway = environment(project, "vendor-gateway")
    allowed = set(gateway["TIERLINE_VENDOR_ALLOW_HOSTS"].split(","))
    for vendor, declared in _vendors().items():
        source = declared["webhook_url"]
        assert isinstance(source, dict), f"{vendor}: webhook_url should come from the environment"
        url = urlsplit(gateway[source["env"]])
        simulator = _simulator_of(project, vendor)
        assert url.hostname == simulator, f"{vendor}: the gateway sends to {url.hostname}, not {simulator}"
        assert [str(url.port)] == _arguments(project, simulator)["--port"], f"{vendor}: port mismatch"
        assert url.path == "/tierline/cases"
        assert url.hostname in allowed, f"the SSRF guard would refuse {url.hostname} (allow: {allowed})"
        assert "--host" not in _arguments(project, simulator), "the image listens on 0.0.0.0"


def test_the_simulators_verify_with_the_secrets_the_gateway_signs_with(load: Load) -> None:
    """Unset, both sides use vendors.yaml's development secrets; set, both take the .env value."""
    for values in ({}, {"TIERLINE_VENDOR_ACME_NETWORKS_WEBHOOK_SECRET": "whsec_" + "QUJD" * 8}):
        project = load("dev", **values)
        gateway = environment(project, "vendor-gateway")
        for vendor, declared in _vendors().items():
            args = _arguments(project, _simulator_of(project, vendor))
            for flag, field in (("--webhook-secret", "secrets"), ("--callback-secret", "callback_secrets")):
                [source] = declared[field]
                expected = gateway[source["env"]] or source["default"]
                assert args[flag] == [expected], f"{vendor} {flag}: simulator and gateway disagree"


def test_simulator_callbacks_reach_the_gateway_on_the_compose_network(load: Load) -> None:
    project = load("dev")
    gateway = environment(project, "vendor-gateway")
    public = urlsplit(gateway["TIERLINE_PUBLIC_URL"])
    assert public.hostname == "vendor-gateway" and public.port == int(gateway["TIERLINE_PORT"])
    networks = set(project["services"]["vendor-gateway"]["networks"])
    for simulator in PROFILES["dev"] - {"mailpit"}:
        assert networks & set(project["services"][simulator]["networks"]), f"{simulator} shares no network"


def test_the_public_url_can_be_set_for_real_vendors(load: Load) -> None:
    project = load(TIERLINE_PUBLIC_URL="https://tierline.example.com/gateway")
    assert (
        environment(project, "vendor-gateway")["TIERLINE_PUBLIC_URL"]
        == "https://tierline.example.com/gateway"
    )


def test_mail_catcher_publishes_smtp_and_ui_on_localhost_only(load: Load) -> None:
    ports = {
        (p["target"], p.get("host_ip"), int(p["published"]))
        for p in load("dev")["services"]["mailpit"]["ports"]
    }
    assert ports == {(1025, "127.0.0.1", 1025), (8025, "127.0.0.1", 8025)}


# ---------------------------------------------------------------------------------------------
# every profile: published ports and mounted files
# ---------------------------------------------------------------------------------------------


def test_everything_published_is_on_localhost_and_every_mount_exists(load: Load) -> None:
    project = load("dev", "observability")
    published: dict[int, str] = {}
    for name, service in project["services"].items():
        for port in service.get("ports") or []:
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond localhost"
            number = int(port["published"])
            assert number not in published, f"{name} and {published.get(number)} both publish {number}"
            published[number] = name
        for volume in service.get("volumes") or []:
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), f"{name} mounts {volume['source']}, which is missing"
                assert volume.get("read_only"), f"{name} mounts {volume['source']} writable"
            else:
                assert volume["source"] in project["volumes"], f"{name}: undeclared volume {volume['source']}"
