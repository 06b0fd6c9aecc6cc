"""Links that act (/v1/links/{token}) on a running intake, on the real PostgreSQL and Kafka.

The token is the credential: every link request here is sent without an API key. GET changes
nothing; POST acts once, and every refusal (altered, expired, used, no such incident, not possible
now, bad score, links not enabled) changes nothing either.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tierline_shared.links import LinkClaim, LinkSigner

pytestmark = pytest.mark.integration
SECRET = "link-secret-of-the-intake-tests"
OLD_SECRET = "the-link-secret-before-rotation"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Accept": "application/json"}


@pytest.fixture
def linked(make_client: Callable[..., TestClient]) -> TestClient:
    """An intake that honours links signed with SECRET (or, rotated out, with OLD_SECRET)."""
    return make_client(link_secret=f"{SECRET},{OLD_SECRET}")


def new_incident(client: TestClient, **fields: Any) -> str:
    body = {
        "title": "VPN <down> for & everyone",
        "service": "vpn",
        "category": "network",
        "priority": "P2",
        "channel": "web",
        "reporter": "dan@example.com",
        **fields,
    }
    response = client.post("/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def token(
    incident_id: str | uuid.UUID,
    purpose: str = "acknowledge",
    *,
    person: str | None = "alice",
    expires_in: timedelta = timedelta(hours=1),
    secret: str = SECRET,
) -> str:
    claim = LinkClaim(
        purpose=purpose,  # type: ignore[arg-type]
        incident_id=uuid.UUID(str(incident_id)),
        person=person,
        nonce=uuid.uuid4().hex,
        expires_at=datetime.now(UTC) + expires_in,
    )
    return LinkSigner([secret]).sign(claim)


@contextmanager
def without_key(client: TestClient) -> Iterator[TestClient]:
    """The client as a person's browser is: no API key."""
    key = client.headers.pop("Authorization")
    try:
        yield client
    finally:
        client.headers["Authorization"] = key


def open_link(client: TestClient, link: str, **kwargs: Any) -> Any:
    with without_key(client):
        return client.get(f"/v1/links/{link}", **kwargs)


def use(client: TestClient, link: str, data: str = "", headers: dict[str, str] | None = None) -> Any:
    with without_key(client):
        return client.post(f"/v1/links/{link}", content=data, headers={**FORM, **(headers or {})})


def incident(client: TestClient, incident_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/incidents/{incident_id}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def is_page(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    for word in words:
        assert word in response.text, f"{word!r} not on the page"


# -- acknowledge -----------------------------------------------------------------------------


def test_opening_an_acknowledge_link_shows_the_incident_and_changes_nothing(linked: TestClient) -> None:
    iid = new_incident(linked)
    before = incident(linked, iid)
    link = token(iid)
    for _ in range(2):  # a mail scanner, then the person
        page = open_link(linked, link)
        is_page(page, 200, "Acknowledge this incident?", "VPN &lt;down&gt; for &amp; everyone", "P2", "alice")
        assert '<form method="post">' in page.text and ">Acknowledge</button>" in page.text
    assert incident(linked, iid) == before
    assert use(linked, link).status_code == 200, "opening the link did not use it up"


def test_an_acknowledge_link_acknowledges_once_as_its_person(linked: TestClient) -> None:
    iid = new_incident(linked)
    link = token(iid, person="alice")
    is_page(use(linked, link), 200, "Acknowledged", "acknowledged by alice")
    after = incident(linked, iid)
    assert after["status"] == "acknowledged"
    assert [e["summary"] for e in after["timeline"] if e["kind"] == "acknowledged"] == [
        "Acknowledged by alice"
    ]

    again = use(linked, link)
    is_page(again, 409, "This link was already used", "Nothing was changed")
    assert incident(linked, iid) == after
    is_page(open_link(linked, link), 409, "This link was already used")


def test_an_altered_or_foreign_link_is_refused_and_changes_nothing(linked: TestClient) -> None:
    iid = new_incident(linked)
    before = incident(linked, iid)
    genuine = token(iid)
    altered = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    for link in (altered, token(iid, secret="someone-elses-secret"), "not-a-token", genuine[:20]):
        is_page(open_link(linked, link), 400, "This link is not valid")
        is_page(use(linked, link), 400, "This link is not valid", "nothing was changed")
    assert incident(linked, iid) == before


def test_an_expired_link_is_refused_and_changes_nothing(linked: TestClient) -> None:
    iid = new_incident(linked)
    before = incident(linked, iid)
    link = token(iid, expires_in=-timedelta(minutes=1))
    is_page(open_link(linked, link), 410, "This link has expired")
    is_page(use(linked, link), 410, "This link has expired", "nothing was changed")
    assert incident(linked, iid) == before


def test_a_link_signed_with_the_previous_secret_still_works(linked: TestClient) -> None:
    iid = new_incident(linked)
    is_page(use(linked, token(iid, secret=OLD_SECRET)), 200, "Acknowledged")
    assert incident(linked, iid)["status"] == "acknowledged"


def test_a_link_to_an_unknown_incident_is_not_found(linked: TestClient) -> None:
    link = token(uuid.uuid4())
    is_page(open_link(linked, link), 404, "No incident with id")
    is_page(use(linked, link), 404, "No incident with id")


def test_acknowledging_a_resolved_incident_is_refused_and_the_link_stays_usable(linked: TestClient) -> None:
    iid = new_incident(linked)
    assert linked.post(f"/v1/incidents/{iid}/resolve", json={"resolution_code": "fixed"}).status_code == 200
    before = incident(linked, iid)
    link = token(iid)
    is_page(open_link(linked, link), 409, "cannot be acknowledged")
    is_page(use(linked, link), 409, "An incident that is resolved cannot be acknowledged")
    assert incident(linked, iid) == before
    # nothing of the refused use was kept: once the incident is open again, the link works
    assert linked.post(f"/v1/incidents/{iid}/reopen", json={}).status_code == 200
    is_page(use(linked, link), 200, "Acknowledged")
    assert incident(linked, iid)["status"] == "acknowledged"


# -- CSAT ------------------------------------------------------------------------------------


def resolved_incident(client: TestClient) -> str:
    iid = new_incident(client)
    assert client.post(f"/v1/incidents/{iid}/resolve", json={"resolution_code": "fixed"}).status_code == 200
    return iid


def test_a_csat_link_asks_for_a_score_and_records_it_once(linked: TestClient) -> None:
    iid = resolved_incident(linked)
    link = token(iid, "csat", person="dan@example.com")
    page = open_link(linked, link, params={"score": "4"})
    is_page(page, 200, "How did we do?", 'value="4" required checked')
    assert page.text.count(" checked") == 1
    assert " checked" not in open_link(linked, link, params={"score": "9"}).text
    assert incident(linked, iid)["csat_score"] is None

    is_page(use(linked, link, "score=4&comment=quick+and+kind"), 200, "Your score of 4 was recorded")
    after = incident(linked, iid)
    assert after["csat_score"] == 4
    [rated] = [e for e in after["timeline"] if e["kind"] == "csat"]
    assert (rated["summary"], rated["data"]["comment"]) == ("Customer satisfaction 4/5", "quick and kind")

    is_page(use(linked, link, "score=1"), 409, "This link was already used")
    assert incident(linked, iid) == after


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("", "score"),
        ("score=", "score"),
        ("score=9", "score"),
        ("score=five", "score"),
        ("score=%FF", "body"),
    ],
)
def test_a_csat_link_without_a_valid_score_is_refused_and_stays_usable(
    linked: TestClient, data: str, field: str
) -> None:
    iid = resolved_incident(linked)
    link = token(iid, "csat")
    is_page(use(linked, link, data), 422, f"<li>{field}:")
    assert incident(linked, iid)["csat_score"] is None
    is_page(use(linked, link, "score=2"), 200, "Your score of 2 was recorded")


def test_a_csat_link_before_resolution_is_refused(linked: TestClient) -> None:
    iid = new_incident(linked)
    link = token(iid, "csat")
    is_page(open_link(linked, link), 409, "Satisfaction is recorded after resolution")
    is_page(use(linked, link, "score=5"), 409, "Satisfaction is recorded after resolution")
    assert incident(linked, iid)["csat_score"] is None


# -- for programs, and when links are off ----------------------------------------------------


def test_a_program_asking_for_json_gets_json_and_problem_json(linked: TestClient) -> None:
    iid = resolved_incident(linked)
    link = token(iid, "csat", person="dan@example.com")
    shown = open_link(linked, link, headers=JSON)
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/json"
    assert shown.json()["purpose"] == "csat" and shown.json()["status"] == "resolved"

    done = use(linked, link, '{"score": 5}', headers={"Content-Type": "application/json", **JSON})
    assert done.status_code == 200 and done.json()["csat_score"] == 5

    again = use(linked, link, '{"score": 5}', headers={"Content-Type": "application/json", **JSON})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"] == "https://tierline.dev/problems/link-used"

    unreadable = use(linked, token(iid, "csat"), "score=5", headers={"Content-Type": "text/plain", **JSON})
    assert unreadable.status_code == 415 and unreadable.json()["status"] == 415


def test_without_a_link_secret_links_are_not_enabled(client: TestClient) -> None:
    iid = new_incident(client)
    link = token(iid)
    is_page(open_link(client, link), 404, "Links are not enabled here")
    is_page(use(client, link), 404, "Links are not enabled here")
    assert incident(client, iid)["status"] == "open"
