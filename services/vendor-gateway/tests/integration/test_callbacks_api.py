"""Signed vendor callbacks on the real app: POST /v1/vendors/{vendor}/callbacks, end to end.

Standard Webhooks v1 (webhook-id, webhook-timestamp, webhook-signature; 5-minute tolerance), signed
here with the reference library, not the gateway's own code. A refused callback writes no event and
leaves its case as it was; no answer carries a secret, nor the signature the gateway expected.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from tierline_shared.messaging import cloudevents
from tierline_shared.testing import eventually
from tierline_vendor_gateway.adapters.orm import CaseRow, outbox

from .conftest import ADMIN, offline_vendors, open_l4_case, whsec

pytestmark = pytest.mark.integration


# acme signs callbacks with OLD or NEW (a rotation under way); STRANGER is valid but nobody's.
WEBHOOK, OLD, NEW, GLOBEX, STRANGER = (whsec(b) for b in (b"w", b"o", b"n", b"g", b"x"))
SECRETS = (WEBHOOK, OLD, NEW, GLOBEX)
# Deliveries dead-letter at once: one attempt, to a loopback port where nothing listens.
VENDORS = offline_vendors(WEBHOOK, {"acme": [OLD, NEW], "globex": [GLOBEX]})


@pytest.fixture
async def app(gateway_app) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async with gateway_app(VENDORS, admin=False) as started:
        yield started  # vendors call without a bearer key: the signature is all


def signed(
    secret: str, body: dict[str, Any] | bytes, msg_id: str | None = None, age: timedelta = timedelta(0)
) -> tuple[bytes, dict[str, str]]:
    """A body and its Standard Webhooks headers, signed ``age`` ago (negative: in the future)."""
    raw = body if isinstance(body, bytes) else json.dumps(body, default=str).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = datetime.now(UTC) - age
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, raw.decode()),
        "content-type": "application/json",
    }
    return raw, headers


async def post(
    http: httpx.AsyncClient, request: tuple[bytes, dict[str, str]], vendor: str = "acme"
) -> httpx.Response:
    raw, headers = request
    response = await http.post(f"/v1/vendors/{vendor}/callbacks", content=raw, headers=headers)
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    for secret in (*SECRETS, STRANGER):
        assert secret.removeprefix("whsec_") not in response.text
        if ts.isdigit():  # nor the signature the gateway expected (that would make it a signing oracle)
            expected = Webhook(secret).sign(msg_id, datetime.fromtimestamp(int(ts), UTC), raw.decode())
            assert expected.removeprefix("v1,") not in response.text
    return response


def accepted(response: httpx.Response, status: str = "accepted") -> None:
    assert response.status_code == 202, response.text
    assert response.json() == {"status": status}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return body


async def open_case(rt: Any, vendor: str = "acme") -> uuid.UUID:
    """An L4 case for ``vendor``; waits until the worker has dead-lettered its delivery (status failed)."""
    async with rt.unit_of_work() as session:
        case_id = await open_l4_case(session, rt.state["deps"], vendor)
    await eventually(lambda: _status_is(rt, case_id, "failed"), what="the delivery dead-lettered")
    return case_id


async def _status_is(rt: Any, case_id: uuid.UUID, status: str) -> bool:
    async with rt.sessions() as session:
        return await session.scalar(select(CaseRow.status).where(CaseRow.id == case_id)) == status


async def case_of(http: httpx.AsyncClient, case_id: uuid.UUID) -> dict[str, Any]:
    response = await http.get(f"/v1/cases/{case_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert not any(s.removeprefix("whsec_") in response.text for s in SECRETS)
    return response.json()


async def case_events(rt: Any, case_id: uuid.UUID | None = None) -> list[Any]:
    """The vendor.case_* events in the outbox (all cases, or one), decoded as a consumer would."""
    async with rt.sessions() as session:
        rows = (await session.execute(select(outbox).order_by(outbox.c.seq))).all()
    events = [
        cloudevents.decode([(k, v.encode()) for k, v in r.headers], r.value).data
        for r in rows
        if r.event_type.startswith("tierline.vendor.case_")
    ]
    return [e for e in events if case_id is None or e.case_id == case_id]


def body(case_id: uuid.UUID, action: str = "acknowledged", **fields: Any) -> dict[str, Any]:
    return {"case_id": str(case_id), "action": action, **fields}


async def test_a_signed_callback_is_accepted_and_moves_the_case(app) -> None:
    http, rt = app
    case_id = await open_case(rt)
    before = await case_of(http, case_id)
    accepted(await post(http, signed(NEW, body(case_id, reference="ACME-7", note="on it"))))
    [event] = await case_events(rt)
    assert event.event_type == "tierline.vendor.case_acknowledged.v1"
    assert event.case_id == case_id
    assert (event.vendor, event.vendor_reference, event.note) == ("acme", "ACME-7", "on it")
    after = await case_of(http, case_id)
    assert (after["status"], after["vendor_reference"]) == ("acknowledged", "ACME-7")
    assert after["updated_at"] > before["updated_at"]


def _replace(key: str, value: str) -> Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]:
    return lambda raw, headers: (raw, {**headers, key: value})


def _without(key: str) -> Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]:
    return lambda raw, headers: (raw, {k: v for k, v in headers.items() if k != key})


def _other_body(raw: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return raw.replace(b"acknowledged", b"resolved"), headers


# (secret to sign with, age of the signature, what happens to the request after signing)
BAD_SIGNATURES = {
    "a stranger's secret": (STRANGER, timedelta(0), None),
    "the vendor's webhook secret": (WEBHOOK, timedelta(0), None),
    "another vendor's callback secret": (GLOBEX, timedelta(0), None),
    "body altered after signing": (NEW, timedelta(0), _other_body),
    "signed 6 minutes ago": (OLD, timedelta(minutes=6), None),
    "signed 6 minutes ahead": (NEW, -timedelta(minutes=6), None),
    "no webhook-id": (NEW, timedelta(0), _without("webhook-id")),
    "no webhook-timestamp": (NEW, timedelta(0), _without("webhook-timestamp")),
    "no webhook-signature": (NEW, timedelta(0), _without("webhook-signature")),
    "signature without version": (NEW, timedelta(0), _replace("webhook-signature", "garbage")),
    "signature not base64": (NEW, timedelta(0), _replace("webhook-signature", "v1,!!not-base64!!")),
    "signature of another scheme": (NEW, timedelta(0), _replace("webhook-signature", "v1a,AAAA")),
    "timestamp not a number": (NEW, timedelta(0), _replace("webhook-timestamp", "yesterday")),
}


@pytest.mark.parametrize(("secret", "age", "tamper"), BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
async def test_a_bad_signature_is_a_401_and_changes_nothing(app, secret, age, tamper) -> None:
    http, rt = app
    case_id = await open_case(rt)
    before = await case_of(http, case_id)
    raw, headers = signed(secret, body(case_id), msg_id="msg_retried", age=age)
    if tamper:
        raw, headers = tamper(raw, headers)
    answer = problem(await post(http, (raw, headers)), 401)
    assert answer["type"].startswith("https://tierline.dev/problems/")
    assert await case_events(rt) == []
    assert await case_of(http, case_id) == before
    # the refusal did not spend the webhook-id: signed properly, the same message is applied
    accepted(await post(http, signed(OLD, body(case_id), msg_id="msg_retried")))
    assert len(await case_events(rt, case_id)) == 1


async def test_either_secret_of_a_rotation_verifies(app) -> None:
    http, rt = app
    case_id = await open_case(rt)
    accepted(await post(http, signed(OLD, body(case_id, "updated", status="parts_ordered"))))
    accepted(await post(http, signed(NEW, body(case_id, "acknowledged"))))
    raw, headers = signed(NEW, body(case_id, "updated", note="both signatures"))
    stale = signed(STRANGER, raw, msg_id=headers["webhook-id"])[1]["webhook-signature"]
    accepted(
        await post(http, (raw, {**headers, "webhook-signature": f"{stale} {headers['webhook-signature']}"}))
    )
    kinds = [e.event_type.split(".")[2] for e in await case_events(rt, case_id)]
    assert kinds == ["case_updated", "case_acknowledged", "case_updated"]
    # globex's secret, refused on acme's URL, is good on its own
    accepted(await post(http, signed(GLOBEX, body(await open_case(rt, "globex"))), vendor="globex"))


async def test_a_replayed_webhook_id_is_applied_once(app) -> None:
    http, rt = app
    case_id = await open_case(rt)
    request = signed(NEW, body(case_id, "updated", note="first"))
    accepted(await post(http, request))
    accepted(await post(http, request), "duplicate")
    resent = signed(OLD, body(case_id, "resolved"), msg_id=request[1]["webhook-id"])
    accepted(await post(http, resent), "duplicate")  # the id dedupes, whatever the body
    assert len(await case_events(rt, case_id)) == 1
    assert (await case_of(http, case_id))["status"] == "failed"


async def test_a_refused_callback_does_not_burn_its_webhook_id(app) -> None:
    http, rt = app
    case_id = await open_case(rt)
    problem(await post(http, signed(NEW, body(case_id, "closed"), msg_id="msg_a")), 422)
    problem(await post(http, signed(NEW, body(uuid.uuid4()), msg_id="msg_b")), 404)
    assert await case_events(rt) == []
    accepted(await post(http, signed(NEW, body(case_id, "updated"), msg_id="msg_a")))
    accepted(await post(http, signed(NEW, body(case_id, "acknowledged"), msg_id="msg_b")))
    assert len(await case_events(rt, case_id)) == 2


async def test_unknown_vendors_and_cases_are_404(app) -> None:
    http, rt = app
    theirs = await open_case(rt, "globex")
    before = await case_of(http, theirs)
    nobody = problem(await post(http, signed(NEW, body(theirs)), vendor="nobody"), 404)
    assert nobody["type"].endswith("/not-found")
    problem(await post(http, signed(NEW, body(theirs, "resolved"))), 404)  # globex's case on acme's URL
    problem(await post(http, signed(NEW, body(uuid.uuid4()))), 404)
    assert await case_events(rt) == []
    assert await case_of(http, theirs) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action": "closed"}, "action"),
        ({"priority": "high"}, "priority"),
        ({"case_id": "not-a-uuid"}, "case_id"),
        ({"note": "x" * 5001}, "note"),
        ({"reference": "r" * 201}, "reference"),
    ],
)
async def test_an_invalid_body_is_a_422_naming_the_field(app, change: dict[str, Any], field: str) -> None:
    http, rt = app
    case_id = await open_case(rt)
    answer = problem(await post(http, signed(NEW, {**body(case_id), **change})), 422)
    assert field in [e["field"] for e in answer["errors"]], answer
    assert await case_events(rt) == []
    assert (await case_of(http, case_id))["status"] == "failed"


@pytest.mark.parametrize("final", ["resolved", "rejected"])
async def test_a_closed_case_takes_no_more_callbacks(app, final: str) -> None:
    http, rt = app
    case_id = await open_case(rt)
    accepted(await post(http, signed(NEW, body(case_id, final, note="done"))))
    for action in ("acknowledged", "updated", "resolved", "rejected"):
        answer = problem(await post(http, signed(OLD, body(case_id, action))), 409)
        assert answer["case_status"] == final
    assert [e.event_type for e in await case_events(rt, case_id)] == [f"tierline.vendor.case_{final}.v1"]
    assert (await case_of(http, case_id))["status"] == final
