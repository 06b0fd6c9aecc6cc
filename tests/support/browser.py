"""A real headless Chromium for browser tests: Debian's ``chromium`` driven by Selenium through
Debian's ``chromedriver`` (both from `make system-packages`). Nothing is downloaded: the driver's
path is given, so Selenium Manager never runs (and ``SE_OFFLINE`` forbids it the network anyway).

Use the ``browser`` fixture::

    def test_board(browser: Browser, desk_system: System) -> None:
        browser.open(desk_system.url("console") + "/signin")
        browser.wait_for_text("h1", "Sign in")
        browser.screenshot("signin")

Screenshots go to ``.run/screenshots/<test module>/<test name>/NN-<name>.png`` in the checkout
(``TIERLINE_SCREENSHOT_DIR`` replaces ``.run/screenshots``): one folder per test, emptied when the
test starts, so it holds that test's last run, page by page in order. Waits are WebDriverWait
conditions with a deadline, never sleeps. Without chromium or chromedriver the test is skipped,
saying which is missing and how to install it.

The README's pictures of the console (``docs/console-*.png``) come from the same tests:
``Browser.docs_screenshot`` writes one at a laptop's size, but only when
``TIERLINE_UPDATE_DOCS_SCREENSHOTS=1`` is set (otherwise a test run leaves ``docs/`` alone).
``Browser.track_live_streams`` lets a test wait until a page's Server-Sent Events stream is open.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.binaries import find
from tierline_launcher.paths import repo_root, run_dir

T = TypeVar("T")
CHROMIUM, CHROMEDRIVER = "chromium", "chromedriver"
DEFAULT_TIMEOUT = 10.0
WINDOW = (1280, 900)
LAPTOP = (1280, 800)  # the README's screenshots
UPDATE_DOCS = "TIERLINE_UPDATE_DOCS_SCREENSHOTS"
# Run in every page before its own scripts (CDP, so the page's CSP does not apply): note each
# EventSource the page opens, so a test can wait until its live stream is connected.
TRACK_EVENT_SOURCES = """
(() => {
  const Original = window.EventSource;
  if (!Original || Original.__tierlineTracked) { return; }
  window.__tierlineStreams = [];
  window.__tierlineEvents = [];  // what the streams brought, when (ms since the page's start)
  const note = (type) => (e) => window.__tierlineEvents.push(
    {at: Math.round(performance.now()), type: type, data: e.data === undefined ? null : e.data});
  class Tracked extends Original {
    constructor(...args) {
      super(...args);
      window.__tierlineStreams.push(this);
      for (const type of ['open', 'incident', 'resync', 'error']) { this.addEventListener(type, note(type)); }
    }
  }
  document.addEventListener('htmx:afterRequest', (e) => window.__tierlineEvents.push({
    at: Math.round(performance.now()), type: 'htmx', data: e.detail.requestConfig
      ? e.detail.requestConfig.verb + ' ' + e.detail.requestConfig.path : null}));
  Tracked.__tierlineTracked = true;
  window.EventSource = Tracked;
})();
"""
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # as root, in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


def binaries() -> tuple[str, str]:
    """Chromium's and chromedriver's paths; skips the test when either is missing."""
    chromium, driver = find(CHROMIUM), find(CHROMEDRIVER)
    missing = [name for name, path in ((CHROMIUM, chromium), (CHROMEDRIVER, driver)) if path is None]
    if missing or chromium is None or driver is None:
        pytest.skip(
            f"{' and '.join(missing)} not installed: browser tests need Debian's chromium and "
            "chromium-driver (`make system-packages`, or apt-get install chromium chromium-driver)"
        )
    return chromium, driver


def screenshot_folder(node: pytest.Item) -> Path:
    """The test's own, emptied folder under .run/screenshots (or TIERLINE_SCREENSHOT_DIR)."""
    base = Path(os.environ.get("TIERLINE_SCREENSHOT_DIR") or run_dir() / "screenshots")
    module = Path(str(node.path)).stem if hasattr(node, "path") else "tests"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name)
    folder = base / module / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


class Browser:
    """One Chromium session: open pages, wait on conditions, save screenshots."""

    def __init__(self, driver: Any, folder: Path) -> None:
        self.driver = driver
        self.folder = folder
        self.shots: list[Path] = []

    def open(self, url: str) -> None:
        self.driver.get(url)

    def wait(
        self, condition: Callable[[Any], T], *, timeout: float = DEFAULT_TIMEOUT, what: str = "condition"
    ) -> T:
        """``condition(driver)`` until it returns something truthy; at the deadline, fail with a
        screenshot of the page as it was."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            result: T = WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException:
            shot = self.screenshot(f"timeout-{what}")
            pytest.fail(
                f"{what} not seen within {timeout:.0f}s at {self.driver.current_url}; page saved as {shot}"
            )
        return result

    def wait_for_text(self, css: str, text: str, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The first element matching ``css`` whose visible text contains ``text``."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        def found(driver: Any) -> Any:
            try:
                return next((e for e in driver.find_elements(By.CSS_SELECTOR, css) if text in e.text), False)
            except StaleElementReferenceException:  # the page changed under us: look again
                return False

        return self.wait(found, timeout=timeout, what=f"{css} with {text!r}")

    def track_live_streams(self) -> None:
        """From the next page on, note the EventSources pages open (see ``live_stream_open``)."""
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TRACK_EVENT_SOURCES})

    def wait_for_live_stream(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Until the page's Server-Sent Events stream is open (needs ``track_live_streams`` first)."""
        script = "return (window.__tierlineStreams || []).some((s) => s.readyState === EventSource.OPEN);"
        self.wait(lambda d: d.execute_script(script), timeout=timeout, what="the page's live stream to open")

    def live_log(self) -> list[Any]:
        """What the page's live streams brought and the htmx requests that followed (tracked pages)."""
        log: list[Any] = self.driver.execute_script("return window.__tierlineEvents || [];")
        return log

    def laptop_viewport(self) -> None:
        """A laptop's viewport (``LAPTOP``, scale 1) from now on: load the page after this, so its
        layout and charts are drawn at that size."""
        width, height = LAPTOP
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        # no chart animation caught half-way
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]},
        )

    def docs_screenshot(self, filename: str) -> Path | None:
        """The page as ``docs/<filename>`` for the README, only with TIERLINE_UPDATE_DOCS_SCREENSHOTS=1
        set (use ``laptop_viewport`` before loading the page); None when not asked to."""
        if os.environ.get(UPDATE_DOCS) != "1":
            return None
        path = repo_root() / "docs" / filename
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"Chromium saved no screenshot to {path}")
        return path

    @staticmethod
    def updating_docs() -> bool:
        return os.environ.get(UPDATE_DOCS) == "1"

    def screenshot(self, name: str) -> Path:
        """Save the page as ``NN-<name>.png`` in the test's folder; its path."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]
        path = self.folder / f"{len(self.shots) + 1:02d}-{safe}.png"
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"Chromium saved no screenshot to {path}")
        self.shots.append(path)
        return path


def start_chromium(chromium: str, chromedriver: str, profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


@pytest.fixture
def browser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """A fresh headless Chromium (its own profile) for one test; screenshots in its own folder."""
    chromium, chromedriver = binaries()
    monkeypatch.setenv("SE_OFFLINE", "true")  # should Selenium Manager ever run: no downloads
    profile = Path(tempfile.mkdtemp(prefix="tierline-chromium-"))
    driver = start_chromium(chromium, chromedriver, profile)
    try:
        yield Browser(driver, screenshot_folder(request.node))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
