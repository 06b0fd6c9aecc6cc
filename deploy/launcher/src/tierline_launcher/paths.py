"""Where the checkout, the download cache and the local run data live."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    override = os.environ.get("TIERLINE_HOME")
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "deploy" / "kafka" / "pom.xml").exists():
            return parent
    raise RuntimeError("cannot find the Tierline checkout; set TIERLINE_HOME")


def cache_dir() -> Path:
    return Path(os.environ.get("TIERLINE_CACHE_DIR", repo_root() / ".cache")).resolve()


def run_dir() -> Path:
    """Data of `make run` (kept between runs, git-ignored)."""
    return Path(os.environ.get("TIERLINE_RUN_DIR", repo_root() / ".run")).resolve()
