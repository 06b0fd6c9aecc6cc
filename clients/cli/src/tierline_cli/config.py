"""Where the services are and which API key to send: the environment's, else those of `make run`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# service -> (the variable naming its base URL, the port `make run` gives it by default)
SERVICES: dict[str, tuple[str, int]] = {
    "intake": ("TIERLINE_URL", 8001),
    "router": ("TIERLINE_ROUTER_URL", 8002),
    "sla-monitor": ("TIERLINE_SLA_URL", 8003),
    "vendor-gateway": ("TIERLINE_GATEWAY_URL", 8004),
}
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DEV_KEY_FILE = "dev-api-key"


@dataclass(frozen=True)
class Target:
    urls: Mapping[str, str]
    key: str | None
    key_origin: str | None  # the variable or file the key came from, for messages

    def url_variable(self, service: str) -> str:
        return SERVICES[service][0]


def discover(environ: Mapping[str, str], cwd: Path) -> Target:
    urls = service_urls(environ)
    key, origin = find_key(environ, cwd, is_local=_is_local(environ))
    return Target(urls=urls, key=key, key_origin=origin)


def _run_port(environ: Mapping[str, str], service: str) -> str:
    """The port `make run` gives a service: TIERLINE_RUN_<SERVICE>_PORT, else its default."""
    variable = f"TIERLINE_RUN_{service.replace('-', '_').upper()}_PORT"
    return environ.get(variable) or str(SERVICES[service][1])


def service_urls(environ: Mapping[str, str]) -> dict[str, str]:
    """Each service's base URL: its own variable, else its `make run` port on TIERLINE_URL's host."""
    scheme, host = "http", "127.0.0.1"
    if environ.get("TIERLINE_URL"):
        parts = urlsplit(environ["TIERLINE_URL"])
        scheme, host = parts.scheme or "http", parts.hostname or host
    if ":" in host:  # an IPv6 address goes in brackets
        host = f"[{host}]"
    urls = {}
    for service, (variable, _) in SERVICES.items():
        explicit = environ.get(variable)
        urls[service] = (
            explicit.rstrip("/") if explicit else f"{scheme}://{host}:{_run_port(environ, service)}"
        )
    return urls


def _is_local(environ: Mapping[str, str]) -> bool:
    """Whether every service is on this machine, where `make run`'s own key applies (never sent elsewhere)."""
    return all(urlsplit(url).hostname in LOOPBACK for url in service_urls(environ).values())


def dev_key_file(environ: Mapping[str, str], cwd: Path) -> Path | None:
    """`make run`'s key: in TIERLINE_RUN_DIR, else in the first .run/ from here up to the root."""
    if environ.get("TIERLINE_RUN_DIR"):
        folders = [cwd / environ["TIERLINE_RUN_DIR"]]
    else:
        folders = [folder / ".run" for folder in (cwd, *cwd.parents)]
    for folder in folders:
        path = folder / DEV_KEY_FILE
        # only a key file of the user's own (a shared /tmp could hold anyone's .run/)
        if path.is_file() and not path.is_symlink() and path.stat().st_uid == os.getuid():
            return path
    return None


def find_key(environ: Mapping[str, str], cwd: Path, *, is_local: bool) -> tuple[str | None, str | None]:
    """TIERLINE_KEY; for a local system also the bootstrap key `make run` was given, or its dev key."""
    if environ.get("TIERLINE_KEY"):
        return environ["TIERLINE_KEY"].strip(), "TIERLINE_KEY"
    if not is_local:
        return None, None
    if environ.get("TIERLINE_BOOTSTRAP_API_KEY"):
        return environ["TIERLINE_BOOTSTRAP_API_KEY"].strip(), "TIERLINE_BOOTSTRAP_API_KEY"
    path = dev_key_file(environ, cwd)
    if path is None:
        return None, None
    try:
        key = path.read_text().strip()
    except OSError:
        return None, None
    return (key, str(path)) if key else (None, None)
