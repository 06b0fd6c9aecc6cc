"""Hostile HTTP input on the vendor gateway, served by uvicorn on the real PostgreSQL and Kafka: each
case of tests/support/hostile.py gets a 4xx problem+json naming the field and reason (or, where
uvicorn's own parser refuses the request, uvicorn's plain 4xx), never a 5xx, and the gateway answers
a normal request right after.

Writes: registering a vendor (a name; its timeout takes a number of seconds), and a vendor's
callback about its open case, signed with the vendor's callback secret over the exact bytes sent
(Standard Webhooks), so the hostile body gets past the signature to the parser. The listing is
GET /v1/cases with one case in it, so a filter value that matched everything would show.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support import hostile
from tierline_shared import db
from tierline_vendor_gateway.bootstrap import create_app
from tierline_vendor_gateway.config import Settings

from .conftest import (
    ADMIN,
    ADMIN_KEY,
    CALLBACK_SECRET,
    MIGRATIONS,
    WEBHOOK_SECRET,
    offline_vendors,
    open_l4_case,
)

pytestmark = pytest.mark.integration
VENDOR = {
    "name": "initech",
    "webhook_url": "http://127.0.0.1:9/initech",
    "secrets": [WEBHOOK_SECRET],
    "callback_secrets": [CALLBACK_SECRET],
    "timeout": 10,
}


def sign(body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for ``body``, signed with acme's callback secret."""
    msg_id, timestamp = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
    key = base64.b64decode(CALLBACK_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(digest).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}


async def _open_case(database_url: str, deps: Any) -> uuid.UUID:
    """An L4 case for acme, opened on the gateway's database as its consumer would open one."""
    engine = db.create_engine(database_url)
    try:
        async with db.session_factory(engine)() as session, session.begin():
            return await open_l4_case(session, deps, "acme")
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def gateway(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hostile.Target]:
    with hostile.service(
        create_app,
        Settings,
        infra=infra,
        database_url=new_database("vendor_gateway"),
        migrations_dir=MIGRATIONS,
        config_dir=tmp_path_factory.mktemp("vendor-gateway-hostile"),
        admin_key=ADMIN_KEY,
        config_files={"vendors.yaml": offline_vendors(WEBHOOK_SECRET, {"acme": [CALLBACK_SECRET]})},
    ) as served:
        deps = served.app.state.runtime.state["deps"]
        case_id = asyncio.run(_open_case(served.database_url, deps))
        callback = {"case_id": str(case_id), "action": "acknowledged", "reference": "ACME-1"}
        yield hostile.Target(
            name="vendor-gateway",
            url=served.url,
            auth=ADMIN,
            writes=(
                hostile.Write("POST", "/v1/vendors", VENDOR, string_field="name", number_field="timeout"),
                hostile.Write(
                    "POST", "/v1/vendors/acme/callbacks", callback, string_field="reference", signed=True
                ),
            ),
            listing="/v1/cases",
            lookup="/v1/vendors/{}",
            text_filters=("vendor",),
            typed_filters=("status", "incident_id", "created_since", "created_until", "limit", "cursor"),
            sign=sign,
        )


@hostile.cases()
def test_hostile_input_is_refused_with_a_problem(
    case: Callable[[hostile.Target, httpx.Client], None], gateway: hostile.Target
) -> None:
    if case is hostile.wrong_content_type:  # the callback's part is test_a_callback_declared_as_text_...
        gateway = dataclasses.replace(gateway, writes=gateway.writes[:1])
    hostile.run(case, gateway)


def test_a_callback_declared_as_text_is_refused(gateway: hostile.Target) -> None:
    callback = gateway.writes[1]
    with hostile.client(gateway) as http:
        body = json.dumps(dict(callback.body)).encode()
        response = hostile.send(http, gateway, callback, body, **{"content-type": "text/plain"})
    hostile.names(hostile.problem(response, 415, 422), "body")
