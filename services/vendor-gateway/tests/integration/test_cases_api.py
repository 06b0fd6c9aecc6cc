"""GET /v1/cases on the real app and PostgreSQL: filters, newest-first keyset pages, validation, scope.

Most cases are written straight into the table (status and time as each test needs, no delivery);
one is opened as the consumer opens one, so a real handoff is listed too.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tierline_shared.clock import FixedClock
from tierline_shared.testing import eventually, issue_api_key
from tierline_vendor_gateway.adapters.orm import CaseRow

from .conftest import offline_vendors, open_l4_case, whsec

pytestmark = pytest.mark.integration

SECRET = whsec(b"s")
VENDORS = offline_vendors(SECRET, {"acme": [SECRET], "globex": [SECRET]})
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
async def app(gateway_app) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async with gateway_app(VENDORS) as started:
        yield started


async def add_cases(rt: Any, *specs: tuple[str, str, datetime, uuid.UUID | None]) -> list[uuid.UUID]:
    """Cases (vendor, status, created_at, incident or a new one), in one transaction; their ids."""
    rows = [
        CaseRow(
            id=uuid.uuid4(),
            incident_id=incident or uuid.uuid4(),
            vendor=vendor,
            status=status,
            created_at=at,
            updated_at=at,
        )
        for vendor, status, at, incident in specs
    ]
    async with rt.unit_of_work() as session:
        session.add_all(rows)
    return [r.id for r in rows]


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def every_page(http: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    """The ids of each page, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        page = ok(await http.get("/v1/cases", params={**params, **({"cursor": cursor} if cursor else {})}))
        pages.append([c["id"] for c in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_cases_come_newest_first_in_pages_that_neither_skip_nor_repeat(app) -> None:
    http, rt = app
    # seven cases at five instants: three share T0 + 2m, so the id breaks the tie across pages
    times = [T0, T0 + timedelta(minutes=1), *[T0 + timedelta(minutes=2)] * 3, T0 + timedelta(minutes=3)]
    times.append(T0 + timedelta(hours=1))
    ids = await add_cases(rt, *[("acme", "open", at, None) for at in times])
    newest_first = [str(i) for _, i in sorted(zip(times, ids, strict=True), key=lambda p: (p[0], str(p[1])))]
    newest_first.reverse()

    everything = ok(await http.get("/v1/cases"))
    assert [c["id"] for c in everything["items"]] == newest_first and everything["next_cursor"] is None
    for limit in (1, 2, 3, 7):
        pages = await every_page(http, limit=limit)
        assert [i for page in pages for i in page] == newest_first, f"limit {limit}"
        assert all(len(page) == limit for page in pages[:-1]) and 0 < len(pages[-1]) <= limit
    first = everything["items"][-1]
    assert first == {
        "id": newest_first[-1],
        "incident_id": first["incident_id"],
        "vendor": "acme",
        "status": "open",
        "vendor_reference": None,
        "created_at": "2026-11-23T09:00:00Z",
        "updated_at": "2026-11-23T09:00:00Z",
    }


async def test_filters_combine(app) -> None:
    http, rt = app
    incident = uuid.uuid4()
    acme_open, acme_failed, globex_resolved, acme_later = await add_cases(
        rt,
        ("acme", "open", T0, incident),
        ("acme", "failed", T0 + timedelta(minutes=1), incident),
        ("globex", "resolved", T0 + timedelta(minutes=2), None),
        ("acme", "acknowledged", T0 + timedelta(days=1), None),
    )

    async def ids(**params: Any) -> list[uuid.UUID]:
        return [uuid.UUID(c["id"]) for c in ok(await http.get("/v1/cases", params=params))["items"]]

    assert await ids(vendor="acme") == [acme_later, acme_failed, acme_open]
    assert await ids(vendor="globex") == [globex_resolved]
    assert await ids(vendor="nobody") == []
    assert await ids(status="failed") == [acme_failed]
    assert await ids(status=["open", "resolved"]) == [globex_resolved, acme_open]
    assert await ids(incident_id=str(incident)) == [acme_failed, acme_open]
    assert await ids(incident_id=str(incident), status="open") == [acme_open]
    since, until = (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(days=1)).isoformat()
    assert await ids(created_since=since) == [acme_later, globex_resolved, acme_failed]  # inclusive
    assert await ids(created_until=until) == [globex_resolved, acme_failed, acme_open]  # exclusive
    assert await ids(created_since=since, created_until=until, vendor="acme") == [acme_failed]
    # the same instant in another offset is the same instant
    assert await ids(created_since="2026-11-23T10:01:00+01:00", created_until=until) == [
        globex_resolved,
        acme_failed,
    ]
    pages = await every_page(http, vendor="acme", limit=1)
    assert pages == [[str(acme_later)], [str(acme_failed)], [str(acme_open)]], "filters hold across pages"


async def test_a_real_handoff_is_listed(app) -> None:
    http, rt = app
    deps = replace(rt.state["deps"], clock=FixedClock(T0 + timedelta(days=2)))
    async with rt.unit_of_work() as session:
        case_id = await open_l4_case(session, deps, "globex")

    async def failed() -> list[dict[str, Any]]:  # the app's worker dead-letters its delivery at once
        return ok(await http.get("/v1/cases", params={"vendor": "globex", "status": "failed"}))["items"]

    [listed] = await eventually(failed, what="the handoff failed back to L3")
    assert (listed["id"], listed["vendor"], listed["created_at"]) == (
        str(case_id),
        "globex",
        "2026-11-25T09:00:00Z",
    )
    assert ok(await http.get(f"/v1/cases/{case_id}")) == listed


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"status": "lost"}, "status.0"),
        ({"status": ["open", "lost"]}, "status.1"),
        ({"incident_id": "not-a-uuid"}, "incident_id"),
        ({"created_since": "yesterday"}, "created_since"),
        ({"created_since": "2026-11-23T09:00:00"}, "created_since"),  # no offset: which 9 o'clock?
        ({"created_until": "0001-01-01T00:00:00+00:00"}, "created_until"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),  # base64 of "not a cursor"
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "x" * 501}, "cursor"),
        ({"vendor": "acme\x00"}, "vendor"),
    ],
)
async def test_an_invalid_query_is_a_422_naming_the_parameter(
    app, params: dict[str, Any], field: str
) -> None:
    http, _ = app
    response = await http.get("/v1/cases", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert field in [e["field"] for e in errors] and all(e.get("in") == "query" for e in errors), errors


async def test_a_cursor_for_a_time_utc_cannot_hold_is_a_422_not_a_500(app) -> None:
    http, _ = app
    raw = json.dumps(["0001-01-01T00:00:00+14:00", str(uuid.uuid4())]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    response = await http.get("/v1/cases", params={"cursor": cursor})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "cursor", response.text


async def test_listing_takes_incidents_read_as_reading_one_does(app) -> None:
    http, rt = app
    [case_id] = await add_cases(rt, ("acme", "open", T0, None))
    reader = await issue_api_key(rt, ["incidents:read"])
    assert [c["id"] for c in ok(await http.get("/v1/cases", headers=reader))["items"]] == [str(case_id)]
    assert ok(await http.get(f"/v1/cases/{case_id}", headers=reader))["id"] == str(case_id)
    scopeless = await issue_api_key(rt, [])  # incidents:write and admin would imply incidents:read
    for path in ("/v1/cases", f"/v1/cases/{case_id}"):
        forbidden = await http.get(path, headers=scopeless)
        assert forbidden.status_code == 403 and forbidden.json()["required_scope"] == "incidents:read"
        anonymous = await http.get(path, headers={"Authorization": ""})
        assert anonymous.status_code == 401
