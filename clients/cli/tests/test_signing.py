"""Secrets and signed callbacks, checked by the Standard Webhooks reference library itself."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from standardwebhooks import Webhook, WebhookVerificationError

from tierline_cli import signing
from tierline_cli.__main__ import cli
from tierline_cli.app import App

CASE = "0b7e9f5c-2d4a-4f0e-9a51-3c8e2b1d6f40"


def test_a_new_secret_is_what_the_gateway_accepts() -> None:
    secret = signing.new_secret()
    assert signing.check_secret(secret) == secret
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert signing.new_secret() != secret


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("RiZLIxYIZfrqWljtaeavQ4YgK1rVr86K", "starts with whsec_"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
    ],
)
def test_secrets_the_gateway_would_refuse(secret: str, reason: str) -> None:
    with pytest.raises(signing.BadSecret, match=reason):
        signing.check_secret(secret)


def test_a_signed_callback_verifies() -> None:
    secret = signing.new_secret()
    body = signing.callback_body(CASE, "resolved", reference="ACME-4711", resolution="Replaced the line card")
    headers = signing.signed_headers(secret, body, msg_id="msg_1", timestamp=datetime.now(UTC))
    assert Webhook(secret).verify(body, headers) == {
        "case_id": CASE,
        "action": "resolved",
        "reference": "ACME-4711",
        "resolution": "Replaced the line card",
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"resolved", b"rejected"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)


def test_the_timestamp_is_unix_seconds_whatever_the_zone() -> None:
    secret = signing.new_secret()
    berlin = datetime.now(timezone(timedelta(hours=1)))
    headers = signing.signed_headers(secret, b"{}", msg_id="msg_2", timestamp=berlin)
    assert headers["webhook-timestamp"] == str(int(berlin.timestamp()))
    Webhook(secret).verify(b"{}", headers)


def _invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), obj=App(environ={}), input=input)


def test_sign_callback_prints_headers_and_body_that_verify() -> None:
    secret = signing.new_secret()
    result = _invoke(
        "vendors", "sign-callback", "acme-networks", "--secret", secret, "--case", CASE,
        "--action", "acknowledged", "--reference", "ACME-1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    signed = json.loads(result.stdout)
    assert signed["url"] == "http://127.0.0.1:8004/v1/vendors/acme-networks/callbacks"
    assert signed["headers"]["webhook-id"].startswith("msg_")
    payload = Webhook(secret).verify(signed["body"].encode(), signed["headers"])
    assert payload == {"case_id": CASE, "action": "acknowledged", "reference": "ACME-1"}


def test_sign_callback_signs_a_body_file_byte_for_byte() -> None:
    secret = signing.new_secret()
    raw = b'{"case_id": "' + CASE.encode() + b'",  "action": "updated", "note": "caf\xc3\xa9"}\n'
    result = _invoke("--json", "vendors", "sign-callback", "v1", "--secret", secret, "--body", "-", input=raw)
    assert result.exit_code == 0, result.output
    signed = json.loads(result.stdout)
    assert signed["body"].encode() == raw
    Webhook(secret).verify(raw, signed["headers"])


def test_sign_callback_for_people_gives_a_curl_line() -> None:
    result = _invoke(
        "vendors", "sign-callback", "acme", "--secret", signing.new_secret(), "--case", CASE,
        "--action", "rejected", "--id", "msg_fixed",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "POST http://127.0.0.1:8004/v1/vendors/acme/callbacks" in result.stdout
    assert "webhook-id: msg_fixed" in result.stdout
    assert (
        "curl -sS -X POST http://127.0.0.1:8004/v1/vendors/acme/callbacks -H 'content-type" in result.stdout
    )


def test_sign_callback_refuses_a_bad_secret_in_one_line() -> None:
    result = _invoke(
        "vendors", "sign-callback", "acme", "--secret", "hunter2", "--case", CASE, "--action", "resolved"
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: --secret: a signing secret starts with whsec_\n"
