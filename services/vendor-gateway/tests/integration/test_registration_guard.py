"""The SSRF guard at registration, on the real app: POST and PATCH /v1/vendors refuse a webhook every
delivery would refuse (422 naming webhook_url), and vendors.yaml's vendors are refused at start.

Only literals, "localhost" (the hosts file) and names under the reserved .invalid and .example
domains are used, which never resolve: no test here depends on a public DNS answer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tierline_shared.config_files import ConfigError

from .conftest import whsec

pytestmark = pytest.mark.integration

SECRET, CALLBACK = whsec(b"s"), whsec(b"c")
# acme is never delivered to here (no case is opened); only 192.168.0.0/16 is allow-listed
ACME = {
    "name": "acme",
    "webhook_url": "https://93.184.216.34/acme",
    "secrets": [SECRET],
    "callback_secrets": [CALLBACK],
}
VENDORS = {"vendors": [ACME], "delivery": {"allow_hosts": ["192.168.0.0/16"]}}
INITECH = {"name": "initech", "secrets": [SECRET], "callback_secrets": [CALLBACK]}


def refusal(response: httpx.Response) -> str:
    """The reason a 422 problem gives for webhook_url."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    [error] = [e for e in body["errors"] if e["field"] == "webhook_url"]
    assert error["pointer"] == "/webhook_url" and "SSRF guard" in body["detail"]
    return str(error["reason"])


async def names(http: httpx.AsyncClient) -> list[str]:
    response = await http.get("/v1/vendors")
    assert response.status_code == 200, response.text
    return [v["name"] for v in response.json()]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/x", "10.0.0.1 is not allow-listed, so its webhook must use https"),
        ("https://10.0.0.1/x", "10.0.0.1 is a non-public address"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a non-public address"),
        ("https://100.64.0.1/x", "100.64.0.1 is a non-public address"),
        ("https://[::1]/x", "::1 is a non-public address"),
        ("https://[fd00::1]/x", "fd00::1 is a non-public address"),
        ("https://[::ffff:10.0.0.1]/x", "non-public address"),
        ("https://2130706434/x", "127.0.0.2 is a non-public address"),  # 127.0.0.2 written as a number
        ("https://172.16.0.1/x", "172.16.0.1 is a non-public address"),  # private, not in 192.168/16
        ("http://172.16.0.1:9/x", "172.16.0.1 is not allow-listed, so its webhook must use https"),
        ("https://localhost/x", "localhost resolves to non-public addresses"),  # by name, resolved
        ("http://hooks.initech.example/x", "must use https"),
    ],
)
async def test_a_webhook_every_delivery_would_refuse_is_a_422_naming_it(
    gateway_app, url: str, reason: str
) -> None:
    async with gateway_app(VENDORS) as (http, _):
        assert reason in refusal(await http.post("/v1/vendors", json={**INITECH, "webhook_url": url}))
        assert await names(http) == ["acme"], "nothing was registered"
        before = (await http.get("/v1/vendors/acme")).json()
        assert reason in refusal(await http.patch("/v1/vendors/acme", json={"webhook_url": url}))
        assert (await http.get("/v1/vendors/acme")).json() == before, "nothing was changed"


async def test_allowed_and_public_webhooks_are_registered_and_unresolvable_ones_with_a_warning(
    gateway_app,
) -> None:
    async with gateway_app(VENDORS) as (http, _):
        for name, url, warned in (
            ("allowed", "http://192.168.1.10:9100/x", False),  # in an allowed CIDR: private, http too
            ("public", "https://93.184.216.34/x", False),
            ("not-yet", "https://hooks.not-yet.invalid/x", True),  # its DNS may come later
        ):
            response = await http.post("/v1/vendors", json={**INITECH, "name": name, "webhook_url": url})
            assert response.status_code == 201, response.text
            warnings = response.json()["warnings"]
            assert bool(warnings) is warned, warnings
        assert "hooks.not-yet.invalid" in warnings[0] and "deliveries check it again" in warnings[0]
        patched = await http.patch("/v1/vendors/public", json={"webhook_url": "https://moved.invalid/x"})
        assert patched.status_code == 200 and "moved.invalid" in patched.json()["warnings"][0]
        assert await names(http) == ["acme", "allowed", "not-yet", "public"]


def _file_vendor(url: str) -> dict[str, Any]:
    return {**VENDORS, "vendors": [{**VENDORS["vendors"][0], "webhook_url": url}]}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/x", "must use https"),
        ("https://[fd00::1]/x", "non-public"),
        ("https://localhost/x", "localhost resolves to non-public addresses"),
    ],
)
async def test_a_file_vendor_the_guard_refuses_stops_the_start_naming_it(
    gateway_app, url: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        async with gateway_app(_file_vendor(url)):
            pytest.fail("the gateway started")
    message = str(refused.value)
    assert message.startswith("vendor acme in vendors.yaml: webhook_url is refused by the SSRF guard: ")
    assert reason in message and "\n" not in message


async def test_a_file_vendor_whose_name_does_not_resolve_starts(gateway_app) -> None:
    """Its DNS may be down or not live yet: the start logs vendor_webhook_unresolved and goes on."""
    async with gateway_app(_file_vendor("https://hooks.acme.invalid/cases")) as (http, _):
        acme = (await http.get("/v1/vendors/acme")).json()
        assert (acme["webhook_url"], acme["enabled"]) == ("https://hooks.acme.invalid/cases", True)
