"""The console in a real headless Chromium against the whole system (real Kafka and PostgreSQL).

A person signs in through the form with a key intake issued, sees the L1 board; an incident whose
title is a script renders as text once the router has placed it; a form posted without the CSRF
token is refused with 403. Screenshots of each page: see tests/support/browser.py for where.

Still to come once the live boards and the incident page land (services/console, the SSE feed):
an incident appearing on the L1 board within 2 s without a reload, Acknowledge and Escalate
through the page's buttons, the SLA countdown turning red, the dashboard's charts.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, System
from tests.support.browser import Browser
from tierline_launcher.procs import wait_until

pytestmark = pytest.mark.e2e

XSS_TITLE = "<script>alert(1)</script>"


def issue_key(system: System, *, scopes: list[str], person: str | None = None) -> str:
    """A personal key, issued as an admin would: through intake's admin API."""
    body: dict[str, Any] = {"name": f"desk-{uuid.uuid4().hex[:6]}", "scopes": scopes}
    if person:
        body["person"] = person
    answer = httpx.post(
        system.url("intake") + "/v1/api-keys",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def sign_in(browser: Browser, system: System, key: str) -> None:
    """Through the real form: type the key, press the button, land on the L1 board."""
    from selenium.webdriver.common.by import By

    browser.open(system.url("console") + "/signin")
    field = browser.wait(lambda d: d.find_element(By.ID, "api_key"), what="the sign-in form")
    browser.screenshot("signin")
    field.send_keys(key)
    browser.driver.find_element(By.CSS_SELECTOR, "form[action='/signin'] button[type=submit]").click()
    browser.wait(lambda d: d.current_url.endswith("/boards/L1"), what="the L1 board after sign-in")
    browser.wait_for_text("h1", "Board L1")


def post_incident(system: System, key: str, title: str) -> dict[str, Any]:
    body = {
        "title": title,
        "service": "vpn",
        "category": "network",
        "impact": "medium",
        "urgency": "medium",
        "channel": "phone",
        "reporter": "alice@example.com",
    }
    answer = httpx.post(
        system.url("intake") + "/v1/incidents",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def placed(system: System, key: str, incident_id: str) -> dict[str, Any] | None:
    """The incident once the router has put it in a queue of a tier (intake's view), else None."""
    answer = httpx.get(
        system.url("intake") + f"/v1/incidents/{incident_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    answer.raise_for_status()
    incident = dict(answer.json())
    return incident if incident.get("queue") and incident.get("tier") else None


def test_sign_in_with_an_issued_key_shows_the_l1_board(browser: Browser, desk_system: System) -> None:
    key = issue_key(desk_system, scopes=["incidents:read"])
    sign_in(browser, desk_system, key)
    page = browser.driver.page_source
    assert key not in page, "the key must never reach the page"
    cookies = {c["name"]: c for c in browser.driver.get_cookies()}
    assert cookies and all(c["httpOnly"] for c in cookies.values()), cookies
    assert all(c.get("sameSite") == "Strict" for c in cookies.values()), cookies
    assert not any(key in c["value"] for c in cookies.values()), "the cookie is sealed, not the key"
    browser.screenshot("board-L1")


def test_an_incident_title_that_is_a_script_renders_as_text(browser: Browser, desk_system: System) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    key = issue_key(desk_system, scopes=["incidents:read", "incidents:write"])
    created = post_incident(desk_system, key, XSS_TITLE)
    found: dict[str, Any] = {}

    def router_placed_it() -> bool:
        found["incident"] = placed(desk_system, key, created["id"])
        return found["incident"] is not None

    wait_until(router_placed_it, timeout=30, what="the router to place the incident", interval=0.2)
    tier = found["incident"]["tier"]
    sign_in(browser, desk_system, key)
    browser.open(desk_system.url("console") + f"/boards/{tier}")
    cell = browser.wait_for_text("main td", XSS_TITLE)
    assert cell.text == XSS_TITLE  # the characters themselves, shown as text
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert  # noqa: B018 - reading it is the check: no alert opened
    scripts = browser.driver.find_elements(By.XPATH, "//main//script")
    assert scripts == [], "the title became a script element"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in browser.driver.page_source
    browser.screenshot(f"board-{tier}-script-title-as-text")


def test_a_form_posted_without_its_csrf_token_is_refused(browser: Browser, desk_system: System) -> None:
    from selenium.webdriver.common.by import By

    key = issue_key(desk_system, scopes=["incidents:read"])
    sign_in(browser, desk_system, key)
    console = desk_system.url("console")
    # The sign-out form as another page would post it: the session cookie rides along, the token
    # does not (fetch from this very page: the same origin, so SameSite lets the cookie through).
    statuses = browser.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const post = (body) => fetch('/signout', {method: 'POST', body: new URLSearchParams(body),
            redirect: 'manual', credentials: 'same-origin'}).then((r) => r.status);
        Promise.all([post({}), post({csrf_token: 'forged'})]).then(done, (e) => done(String(e)));
        """
    )
    assert statuses == [403, 403], statuses
    # A real form submission without the token: the browser shows the 403 page.
    browser.driver.execute_script(
        """
        const form = document.createElement('form');
        form.method = 'post';
        form.action = '/signout';
        document.body.appendChild(form);
        form.submit();
        """
    )
    browser.wait_for_text("main h1", "Forbidden")
    assert "CSRF token" in browser.driver.find_element(By.TAG_NAME, "main").text
    browser.screenshot("csrf-refused")
    # still signed in: the refused forms changed nothing
    browser.open(console + "/boards/L1")
    browser.wait_for_text("h1", "Board L1")
    # and the page's own form, with its token, signs out
    browser.driver.find_element(By.CSS_SELECTOR, "form[action='/signout'] button[type=submit]").click()
    browser.wait(lambda d: "/signin" in d.current_url, what="the sign-in page after signing out")
    browser.wait_for_text("main", "You have signed out.")
    browser.screenshot("signed-out")
