"""Sign-in returns where the person was going: a page that sends a signed-out browser to sign in
passes ``next``; after signing in the browser goes there, when it is a path on this console."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tierline_console.web import MAX_NEXT, local_path

from .pages_app import T0, WRITER, Recorder, sign_in

HTML = {"accept": "text/html,application/xhtml+xml"}  # as a browser asks for a page
BAD = ["//evil.example", "https://evil.example", "/\\evil", "/\t/evil.example", "javascript:alert(1)", ""]


def submit_signin(client: TestClient, signin_page: str) -> tuple[str, str | None]:
    """Send the sign-in form as the page has it; (where the console redirects, the form's next)."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', signin_page)
    going = re.search(r'name="next" value="([^"]*)"', signin_page)
    assert token, signin_page
    data = {"api_key": "tl_the-key", "csrf_token": token.group(1)}
    if going:
        data["next"] = going.group(1).replace("&amp;", "&")
    response = client.post("/signin", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"], going.group(1) if going else None


def test_a_page_sends_its_path_and_query_and_sign_in_returns_there(client: TestClient) -> None:
    sent = client.get("/boards/L2?priority=P1&sort=time_left", headers=HTML, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == "/signin?next=%2Fboards%2FL2%3Fpriority%3DP1%26sort%3Dtime_left"
    location, _ = submit_signin(client, client.get(sent.headers["location"]).text)
    assert location == "/boards/L2?priority=P1&sort=time_left"


def test_an_encoded_path_is_passed_as_it_was_asked_for(client: TestClient) -> None:
    sent = client.get("/queues/net%20ops", headers=HTML, follow_redirects=False)
    assert sent.headers["location"] == "/signin?next=" + quote("/queues/net%20ops", safe="")


def test_the_home_board_a_post_or_an_api_client_carry_no_next(client: TestClient) -> None:
    assert client.get("/boards/L1", headers=HTML, follow_redirects=False).headers["location"] == "/signin"
    assert client.get("/my-work", follow_redirects=False).headers["location"] == "/signin"  # not a page ask
    posted = client.post("/admin/new/queues", data={"body": "{}"}, headers=HTML, follow_redirects=False)
    assert posted.headers["location"] == "/signin"  # a form's target is not a page to return to


def test_htmx_returns_to_the_page_it_is_on(client: TestClient) -> None:
    headers = {"HX-Request": "true", "HX-Current-URL": "http://127.0.0.1:8000/my-work?x=1"}
    response = client.get("/my-work/rows", headers=headers, follow_redirects=False)
    assert (
        response.status_code == 401 and response.headers["hx-redirect"] == "/signin?next=%2Fmy-work%3Fx%3D1"
    )
    headers["HX-Current-URL"] = "https://evil.example/my-work"  # another host's page: nowhere
    assert client.get("/my-work/rows", headers=headers).headers["hx-redirect"] == "/signin"


def test_an_ended_session_keeps_its_reason_and_where_it_was(client: TestClient) -> None:
    sign_in(client, WRITER, T0 - timedelta(hours=13))
    sent = client.get("/my-work", headers=HTML, follow_redirects=False)
    assert sent.headers["location"] == "/signin?ended=expired&next=%2Fmy-work"
    page = client.get(sent.headers["location"]).text
    assert "Your session has ended" in page
    assert submit_signin(client, page)[0] == "/my-work"


@pytest.mark.parametrize("bad", BAD)
def test_a_next_that_is_not_a_local_path_falls_back_to_the_board(client: TestClient, bad: str) -> None:
    page = client.get("/signin", params={"next": bad}).text
    assert 'name="next"' not in page  # the form does not carry it
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/signin",
        data={"api_key": "tl_the-key", "csrf_token": token.group(1), "next": bad},
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/boards/L1")


def test_a_signed_in_browser_asking_for_sign_in_goes_to_next_if_local(client: TestClient) -> None:
    sign_in(client, WRITER, T0)
    assert client.get("/signin?next=/dashboard", follow_redirects=False).headers["location"] == "/dashboard"
    evil = client.get("/signin", params={"next": "//evil.example"}, follow_redirects=False)
    assert evil.headers["location"] == "/boards/L1"


def test_a_failed_sign_in_keeps_next_and_csrf_is_still_needed(client: TestClient, upstream: Recorder) -> None:
    page = client.get("/signin?next=/dashboard").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and 'name="next" value="/dashboard"' in page
    forged = client.post("/signin", data={"api_key": "k", "next": "/dashboard"}, follow_redirects=False)
    assert forged.status_code == 403 and "location" not in forged.headers
    again = client.post("/signin", data={"api_key": " ", "csrf_token": token.group(1), "next": "/dashboard"})
    assert again.status_code == 422 and 'name="next" value="/dashboard"' in again.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/incidents/0b4f?tab=timeline", "/incidents/0b4f?tab=timeline"),
        ("/", "/"),
        ("/a:b", "/a:b"),
        ("/" + "a" * MAX_NEXT, None),
        ("/\u00e9", None),
        ("/a b", None),
        ("/a\\b", None),
        ("/a\nb", None),
        (None, None),
        *[(bad, None) for bad in BAD],
    ],
)
def test_local_path(value: str | None, expected: str | None) -> None:
    assert local_path(value) == expected
