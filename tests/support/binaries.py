"""System binaries some tests run for real (promtool, prometheus, go): their path, or a failure saying why.

They are installed by `make system-packages` (deploy/scripts/install-system-packages.sh), which
`make test` runs first, so a missing one is a broken setup to report, not a test to skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Debian puts some binaries outside a non-root PATH; Go's tarball lives in /usr/local/go.
EXTRA_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/go/bin")


def find(name: str) -> str | None:
    search = os.pathsep.join([os.environ.get("PATH", ""), *EXTRA_DIRS])
    return shutil.which(name, path=search)


def require(name: str, *, install: str = "make system-packages") -> Path:
    """The binary's path; fails the test (never skips it) when it is missing."""
    path = find(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run `{install}` (deploy/scripts/install-system-packages.sh)")
    return Path(path)
