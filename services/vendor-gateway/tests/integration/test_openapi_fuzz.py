"""Schemathesis against the vendor gateway's own OpenAPI, on the real PostgreSQL and Kafka.

Every operation is fuzzed (schema examples, coverage cases, then generated valid and invalid
requests) with the bootstrap admin key. Properties: no 5xx, and every 4xx is problem+json.

The app is started once for the module inside a Starlette TestClient (which runs its lifespan);
schemathesis sends through a requests session whose adapter hands each prepared request to that
client, so the app runs in-process and schemathesis never starts a lifespan of its own.
Random names and ids mostly reach the 404 path, so a request whose path names a vendor, delivery
or case is sent a second time naming one that exists, to reach the code behind the lookup. The
schema cannot state what a webhook secret looks like (nor a timeout's range or a schedule's
length), so generated ones are almost never valid: a POST or PATCH body with them is sent once
more with valid ones in their place. Secrets must never come out in an answer.

Vendor callbacks are authenticated by Standard Webhooks signatures, not the API key: unsigned they
must be refused with 401 (or 404 for a vendor that does not exist). Each generated callback is
also sent to a registered vendor unsigned (401), then signed with its callback secret (its body
naming a case the vendor has, where it names one), so the body's validation and the callback's
use case are fuzzed too: never 5xx, never 401.

The vendors' webhooks are on an allow-listed loopback port where nothing listens, one attempt
each: the app's delivery worker dead-letters every delivery at once ("cannot connect"). Only "acme"
has a case and a delivery; vendor-name paths (PATCH, disable, enable) are sent again naming "globex",
so a fuzzed webhook_url never gets a delivery, and replays and retries keep working against an
enabled vendor.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fastapi.testclient import TestClient
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from standardwebhooks import Webhook

from tests.support import fuzz
from tests.support.fuzz import BASE_URL, Fuzzed, call_and_twin
from tierline_shared import migrations
from tierline_shared.testing import check_fuzzable, fuzz_marks, fuzz_settings, problem_json_check
from tierline_vendor_gateway.bootstrap import create_app
from tierline_vendor_gateway.config import Settings

from .conftest import offline_vendors, open_l4_case, whsec

pytestmark = fuzz_marks()
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
CALLBACKS = "/v1/vendors/{vendor}/callbacks"
# Fixed test secrets ("whsec_" + base64 of 32 bytes).
SECRET = "whsec_dGllcmxpbmUtZnV6ei13ZWJob29rLXNlY3JldC0zMmJ5dGU="
CALLBACK_SECRET = "whsec_dGllcmxpbmUtZnV6ei1jYWxsYmFjay1zZWNyZXQtMzJieXQ="
# Valid secrets put in place of generated ones (which are never valid), distinct within a list.
VALID_SECRETS = [whsec(bytes([65 + i])) for i in range(5)]
SECRET_FIELDS = ("secrets", "callback_secrets")
VENDORS = offline_vendors(SECRET, {"acme": [CALLBACK_SECRET], "globex": [CALLBACK_SECRET]})

# Operations skipped until their bug is fixed: remove an entry once its fix lands.
KNOWN_BUGS: dict[str, str] = {}  # operation -> why it is skipped; empty: everything is fuzzed


def _write_config(config_dir: Path) -> None:
    (config_dir / "vendors.yaml").write_text(yaml.safe_dump(VENDORS))


FUZZED = Fuzzed(
    create_app, Settings, "tl_test-admin-key-for-vendor-gateway-openapi-fuzz", write_config=_write_config
)
AUTH = FUZZED.auth
# Loaded at import, so that pytest collects one test per operation.
OPENAPI = FUZZED.served_openapi()
schema = FUZZED.schema(OPENAPI)


class Api(fuzz.Api):
    """The running app, reached through requests, and names and ids of resources that exist in it.

    With ``sign_with`` set, each request is first signed with that Standard Webhooks secret, over
    the exact bytes sent (the signature headers stay on the request, so reproductions show them).
    """

    def __init__(self, client: TestClient) -> None:
        super().__init__(client, prepare=self._sign)
        self.sign_with: str | None = None
        self.callback_case = ""  # an open case of "acme" that signed callbacks name

    def _sign(self, request: requests.PreparedRequest, body: bytes | None) -> None:
        if self.sign_with is None:
            return
        try:
            text = (body or b"").decode()
        except UnicodeDecodeError:
            return  # not text: it cannot be signed as Standard Webhooks sign (sent unsigned)
        msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        request.headers["webhook-id"] = msg_id
        request.headers["webhook-timestamp"] = str(int(now.timestamp()))
        request.headers["webhook-signature"] = Webhook(self.sign_with).sign(msg_id, now, text)

    def open_case(self, vendor: str = "acme") -> str:
        """An L4 case for ``vendor``, opened as the gateway's consumer opens one (its delivery queued)."""
        runtime = self.client.app.state.runtime  # type: ignore[attr-defined]

        async def open_() -> uuid.UUID:
            async with runtime.unit_of_work() as session:
                return await open_l4_case(session, runtime.state["deps"], vendor)

        return str(self.client.portal.call(open_))  # type: ignore[union-attr]


def _dead_delivery(client: TestClient, case_id: str, timeout: float = 15.0) -> str:
    """The id of the case's delivery once the worker has dead-lettered it (so it can be replayed)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/v1/deliveries", params={"vendor": "acme", "limit": 200}, headers=AUTH)
        assert response.status_code == 200, response.text
        found = [d for d in response.json() if d["case_id"] == case_id]
        if found and found[0]["status"] == "dead":
            return str(found[0]["id"])
        assert time.monotonic() < deadline, f"the delivery was not dead-lettered in {timeout}s: {found}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def api(infra, new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = new_database("vendor_gateway")
    migrations.upgrade(MIGRATIONS, url)
    with FUZZED.running(
        OPENAPI,
        infra=infra,
        database_url=url,
        config_dir=tmp_path_factory.mktemp("vendor-gateway-config"),
        delivery_poll_seconds=0.05,  # a replayed delivery is dead-lettered again quickly
    ) as client:
        session = Api(client)
        case_id = session.open_case()
        session.existing = {
            "name": "globex",  # PATCH, disable and enable change this one; acme keeps its delivery
            "vendor": "acme",
            "case_id": case_id,
            "delivery_id": _dead_delivery(client, case_id),
        }
        session.callback_case = session.open_case()
        yield session


def unsigned_callback_refused(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """An unsigned callback is refused: 401, or 404 when no vendor has that name."""
    assert response.status_code in (401, 404), (
        f"an unsigned callback was answered {response.status_code}, not 401 (or 404 for an unknown vendor)"
    )
    return None


def unsigned_callback_to_a_vendor_is_401(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """An unsigned callback to a registered vendor is refused with 401."""
    assert response.status_code == 401, f"an unsigned callback was answered {response.status_code}, not 401"
    return None


def signed_callback_not_401(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A callback signed with the vendor's callback secret is never refused for its signature."""
    if "webhook-signature" not in response.request.headers:
        return None  # a body that is not UTF-8 text, sent unsigned
    assert response.status_code != 401, "a correctly signed callback was refused with 401"
    return None


def no_secrets_in_answers(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Secrets go in and never come out."""
    text = response.content.decode("utf-8", errors="replace") if response.content else ""
    for secret in (SECRET, CALLBACK_SECRET, *VALID_SECRETS):
        assert secret.removeprefix("whsec_") not in text, "a secret came out in an answer"
    return None


CHECKS = [not_a_server_error, problem_json_check(), no_secrets_in_answers]


def _made_valid(body: Any) -> dict[str, Any] | None:
    """The body with what the schema does not constrain made valid; None if nothing needed it.

    The schema does not say that a secret is whsec_ and the base64 of 24-64 bytes, that a timeout
    is at most 60s or that a schedule is not empty: lists of 1-5 secrets get valid ones, a timeout
    given as a string becomes 10s, an empty schedule one of 0s.
    """
    if not isinstance(body, dict):
        return None
    changes: dict[str, Any] = {
        field: VALID_SECRETS[: len(value)]
        for field in SECRET_FIELDS
        if isinstance(value := body.get(field), list)
        and 1 <= len(value) <= len(VALID_SECRETS)
        and all(isinstance(s, str) for s in value)
    }
    if isinstance(body.get("timeout"), str):
        changes["timeout"] = "10s"
    if body.get("schedule") == []:
        changes["schedule"] = ["0s"]
    return {**body, **changes} if changes and any(body.get(k) != v for k, v in changes.items()) else None


def _callback(case: Case, api: Api) -> None:
    """Unsigned as generated; then to acme unsigned, and signed naming acme's open case."""
    case.call_and_validate(base_url=BASE_URL, session=api, checks=[*CHECKS, unsigned_callback_refused])
    twin = case.derive(keep_auth=True)
    twin.path_parameters = {**case.path_parameters, "vendor": api.existing["vendor"]}
    twin.call_and_validate(
        base_url=BASE_URL, session=api, checks=[*CHECKS, unsigned_callback_to_a_vendor_is_401]
    )
    signed = twin.derive(keep_auth=True)
    body = signed.body
    if isinstance(body, dict) and isinstance(body.get("case_id"), str):
        try:
            uuid.UUID(body["case_id"])
        except ValueError:
            pass  # an invalid id stays invalid: it is what the body validation gets
        else:
            signed.body = {**body, "case_id": api.callback_case}
    api.sign_with = CALLBACK_SECRET
    try:
        response = signed.call_and_validate(
            base_url=BASE_URL, session=api, checks=[*CHECKS, signed_callback_not_401]
        )
    finally:
        api.sign_with = None
    closed = isinstance(signed.body, dict) and signed.body.get("action") in ("resolved", "rejected")
    if response.status_code == 202 and closed:  # further callbacks naming that case would get 409
        api.callback_case = api.open_case()


@schema.parametrize()
@fuzz_settings()
def test_no_server_errors_and_problem_json(case: Case, api: Api) -> None:
    check_fuzzable(case, OPENAPI, KNOWN_BUGS)
    if case.operation.path == CALLBACKS and case.method.upper() == "POST":
        _callback(case, api)
        return
    twin = call_and_twin(case, api, CHECKS)
    # The last one sent again with what the schema cannot constrain made valid, to get past that validation
    last = case if twin is None else twin
    if case.method.upper() in ("POST", "PATCH") and (body := _made_valid(last.body)) is not None:
        keyed = last.derive(keep_auth=True)
        keyed.body = body
        keyed.call_and_validate(base_url=BASE_URL, session=api, checks=CHECKS)
