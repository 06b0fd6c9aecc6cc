"""The `tierline` command: Tierline's HTTP APIs for people (tables) and scripts (--json)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tierline-cli")
except PackageNotFoundError:  # pragma: no cover - run from a source tree that is not installed
    __version__ = "0.0.0"
