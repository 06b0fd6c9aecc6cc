"""Our signer against the Standard Webhooks v1 spec computed by hand, and the verifier's refusals."""

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tierline_vendor_gateway.adapters.webhooks import BadSignature, signed_headers, verify

KEY = secrets.token_bytes(32)
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"type":"case.opened","data":{"case_id":"42"}}'


def test_signature_is_hmac_sha256_of_id_timestamp_and_body() -> None:
    now = datetime.now(UTC)
    headers = signed_headers(SECRET, "msg_abc", now, BODY)
    timestamp = str(int(now.timestamp()))
    expected = hmac.new(KEY, b"msg_abc." + timestamp.encode() + b"." + BODY, hashlib.sha256).digest()
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == timestamp
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


def test_verify_accepts_what_was_signed() -> None:
    verify(SECRET, BODY, signed_headers(SECRET, "msg_1", datetime.now(UTC), BODY))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"42", b"43")),
        lambda h, b: ({**h, "webhook-id": "msg_other"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,not-base64!"}, b),
        lambda h, b: ({**h, "webhook-signature": "garbage"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "yesterday"}, b),
        lambda h, b: (h, b"\xff\xfe"),
    ],
)
def test_verify_refuses_tampering(tamper) -> None:
    headers, body = tamper(signed_headers(SECRET, "msg_1", datetime.now(UTC), BODY), BODY)
    with pytest.raises(BadSignature):
        verify(SECRET, body, headers)


def test_verify_refuses_stale_and_future_timestamps_and_other_keys() -> None:
    for skew in (timedelta(minutes=-6), timedelta(minutes=6)):
        with pytest.raises(BadSignature, match=r"too (old|new)"):
            verify(SECRET, BODY, signed_headers(SECRET, "msg_1", datetime.now(UTC) + skew, BODY))
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(BadSignature):
        verify(other, BODY, signed_headers(SECRET, "msg_1", datetime.now(UTC), BODY))


def test_rotation_signs_with_every_secret_and_a_receiver_with_either_accepts() -> None:
    new_key = secrets.token_bytes(32)
    new_secret = "whsec_" + base64.b64encode(new_key).decode()
    now = datetime.now(UTC)
    headers = signed_headers([SECRET, new_secret], "msg_rot", now, BODY)
    signed = b"msg_rot." + str(int(now.timestamp())).encode() + b"." + BODY
    expected = [
        "v1," + base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()).decode()
        for k in (KEY, new_key)
    ]
    assert headers["webhook-signature"].split(" ") == expected
    verify(SECRET, BODY, headers)  # a receiver still on the old secret
    verify(new_secret, BODY, headers)  # and one already on the new
    verify([new_secret, SECRET], BODY, signed_headers(SECRET, "msg_old", now, BODY))  # we accept either
    with pytest.raises(BadSignature):
        verify("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), BODY, headers)


def test_an_overlong_webhook_id_is_refused_before_anything_is_stored() -> None:
    long_id = "msg_" + "x" * 300
    headers = signed_headers(SECRET, long_id, datetime.now(UTC), b"{}")
    with pytest.raises(BadSignature, match="longer than 256"):
        verify(SECRET, b"{}", headers)
