"""Every service's API docs load from the service itself: no CDN, so they work offline.

This machine reaches no CDN at all, so a page that needed one renders blank here: the
real headless Chromium below is the proof.
"""

from __future__ import annotations

import re
import subprocess

import httpx
import pytest

from tests.e2e.conftest import System
from tests.support.binaries import require
from tierline_launcher.system import SERVICES

pytestmark = pytest.mark.e2e

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_assets_the_service_serves(system: System, page: str) -> None:
    for service in SERVICES:
        base = system.url(service.name)
        html = httpx.get(base + page, timeout=10)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        assets = [a or b for a, b in ASSET.findall(html.text)]
        assert assets, f"{service.name}{page} references nothing"
        for asset in assets:
            assert asset.startswith("/"), f"{service.name}{page} loads {asset} from elsewhere"
            answer = httpx.get(base + asset, timeout=10)
            assert answer.status_code == 200, f"{service.name}: {asset} -> {answer.status_code}"
            assert len(answer.content) > 1000 or asset.endswith(".json")


def test_swagger_ui_renders_the_api_in_a_real_browser_without_network(system: System) -> None:
    chromium = require("chromium")
    url = system.url("intake") + "/docs"
    rendered = subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",  # as root, in a container
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = rendered.stdout
    # Swagger UI drew the operations it read from /openapi.json (the raw page has none of these).
    assert 'class="opblock-summary-path"' in dom or "opblock-summary-path" in dom, rendered.stderr[-2000:]
    assert "/v1/incidents" in dom
