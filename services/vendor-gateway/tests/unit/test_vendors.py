"""Vendors as the registry and vendors.yaml describe them: secrets, bounds, fingerprints, env secrets."""

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tierline_shared.config_files import load_yaml
from tierline_vendor_gateway.config import DeliveryPolicy, VendorConfig, VendorsConfig
from tierline_vendor_gateway.domain.vendors import Vendor, VendorSpec, check_secret, fingerprint

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"


def secret(n: int = 32, fill: bytes = b"k") -> str:
    return "whsec_" + base64.b64encode(fill * n).decode()


SECRET, OTHER = secret(fill=b"a"), secret(fill=b"b")


def vendor(**change: Any) -> dict[str, Any]:
    data = {
        "name": "acme",
        "webhook_url": "https://hooks.acme.example/cases",
        "secrets": [SECRET],
        "callback_secrets": [OTHER],
    }
    return {k: v for k, v in {**data, **change}.items() if v is not None}


# -- secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [24, 32, 64])
def test_a_secret_of_24_to_64_bytes_is_accepted(n: int) -> None:
    assert check_secret(secret(n)) == secret(n)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (base64.b64encode(b"k" * 32).decode(), "starts with whsec_"),
        ("WHSEC_" + base64.b64encode(b"k" * 32).decode(), "starts with whsec_"),
        ("whsec_not base64!!", "base64"),
        ("whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("="), "base64"),  # padding missing
        ("whsec_" + base64.urlsafe_b64encode(b"\xff" * 32).decode(), "base64"),  # url-safe alphabet
        (secret(23), "this one 23"),
        (secret(65), "this one 65"),
        ("whsec_", "this one 0"),
    ],
)
def test_a_malformed_secret_is_refused_saying_why(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_secret(value)
    with pytest.raises(ValidationError, match=message):
        Vendor.model_validate(vendor(secrets=[SECRET, value]))


@pytest.mark.parametrize("field", ["secrets", "callback_secrets"])
def test_secret_lists_hold_one_to_five_distinct_secrets(field: str) -> None:
    five = [secret(fill=bytes([65 + i])) for i in range(5)]
    assert getattr(Vendor.model_validate(vendor(**{field: five})), field) == five
    for bad in ([], [*five, secret(fill=b"z")], [SECRET, OTHER, SECRET]):
        with pytest.raises(ValidationError) as info:
            Vendor.model_validate(vendor(**{field: bad}))
        assert info.value.errors()[0]["loc"][0] == field
    with pytest.raises(ValidationError, match="the same secret is listed twice"):
        Vendor.model_validate(vendor(**{field: [SECRET, SECRET]}))


def test_the_fingerprint_names_a_secret_without_revealing_it() -> None:
    printed = fingerprint(SECRET)
    assert printed.startswith("sha256:") and len(printed) == len("sha256:") + 16
    assert printed == fingerprint(SECRET), "stable"
    assert printed != fingerprint(OTHER)
    body = SECRET.removeprefix("whsec_")
    assert SECRET not in printed and body not in printed and body[:8] not in printed


# -- timeout, schedule, the rest ------------------------------------------------------------------


@pytest.mark.parametrize(("timeout", "seconds"), [("1ms", 0.001), ("10s", 10), ("60s", 60), ("1m", 60)])
def test_a_timeout_above_0_up_to_60s_is_accepted(timeout: str, seconds: float) -> None:
    assert Vendor.model_validate(vendor(timeout=timeout)).timeout == timedelta(seconds=seconds)


@pytest.mark.parametrize("timeout", ["0s", "61s", "2m", -1])
def test_a_timeout_outside_0_to_60s_is_refused(timeout: Any) -> None:
    with pytest.raises(ValidationError) as info:
        Vendor.model_validate(vendor(timeout=timeout))
    assert [e["loc"] for e in info.value.errors()] == [("timeout",)]


def test_a_schedule_holds_1_to_50_non_negative_delays() -> None:
    assert Vendor.model_validate(vendor(schedule=["0s", "3s", "5m"])).schedule == [
        timedelta(0),
        timedelta(seconds=3),
        timedelta(minutes=5),
    ]
    assert len(Vendor.model_validate(vendor(schedule=["1s"] * 50)).schedule or []) == 50
    for bad, message in (([], "1 to 50"), (["1s"] * 51, "1 to 50"), ([0, -1], "negative")):
        with pytest.raises(ValidationError, match=message) as info:
            Vendor.model_validate(vendor(schedule=bad))
        assert info.value.errors()[0]["loc"][0] == "schedule"


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Acme"},
        {"name": "-acme"},
        {"name": "a" * 64},
        {"webhook_url": "not a url"},
        {"webhook_url": "ftp://hooks.acme.example/"},
        {"contract": {"respond": "1h"}},
        {"products": [""]},
        {"unknown": 1},
    ],
)
def test_other_invalid_vendors_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Vendor.model_validate(vendor(**change))


# -- vendors.yaml ---------------------------------------------------------------------------------


def declared(**change: Any) -> VendorConfig:
    return VendorConfig.model_validate(
        vendor(
            secrets=[{"env": "TEST_ACME_WEBHOOK", "default": SECRET}],
            callback_secrets=[OTHER, {"env": "TEST_ACME_CALLBACK"}],
            **change,
        )
    )


def test_an_env_secret_comes_from_the_environment_before_its_default(monkeypatch) -> None:
    monkeypatch.setenv("TEST_ACME_CALLBACK", SECRET)
    monkeypatch.delenv("TEST_ACME_WEBHOOK", raising=False)
    resolved = declared().to_vendor()
    assert (resolved.secrets, resolved.callback_secrets) == ([SECRET], [OTHER, SECRET])
    rotated = secret(fill=b"r")
    monkeypatch.setenv("TEST_ACME_WEBHOOK", rotated)
    assert declared().to_vendor().secrets == [rotated]


def test_an_env_secret_without_a_value_or_default_names_the_vendor_and_variable(monkeypatch) -> None:
    monkeypatch.delenv("TEST_ACME_CALLBACK", raising=False)
    with pytest.raises(ValueError, match=r"vendor acme: no callback secret \(set TEST_ACME_CALLBACK\)"):
        declared().to_vendor()
    monkeypatch.setenv("TEST_ACME_CALLBACK", "")  # empty counts as unset
    with pytest.raises(ValueError, match="TEST_ACME_CALLBACK"):
        declared().to_vendor()


def test_an_invalid_resolved_secret_names_the_vendor_not_the_secret(monkeypatch) -> None:
    monkeypatch.setenv("TEST_ACME_CALLBACK", "whsec_c2hvcnQ=")
    with pytest.raises(ValueError, match=r"vendor acme: callback_secrets\.1:") as info:
        declared().to_vendor()
    assert "c2hvcnQ" not in str(info.value)
    with pytest.raises(ValidationError, match="vendor acme"):
        VendorsConfig.model_validate({"vendors": [declared().model_dump(mode="json")]})


def test_the_file_refuses_duplicate_names_and_checks_the_resolved_vendor(monkeypatch) -> None:
    monkeypatch.setenv("TEST_ACME_CALLBACK", SECRET)
    one = declared().model_dump(mode="json")
    assert VendorsConfig.model_validate({"vendors": [one]}).vendors[0].enabled is True
    with pytest.raises(ValidationError, match="unique"):
        VendorsConfig.model_validate({"vendors": [one, one]})
    with pytest.raises(ValidationError, match="vendor acme: timeout"):
        VendorsConfig.model_validate({"vendors": [{**one, "timeout": "90s"}]})
    with pytest.raises(ValidationError, match="vendor acme: schedule"):
        VendorsConfig.model_validate({"vendors": [{**one, "schedule": []}]})


# -- the delivery policy per vendor ---------------------------------------------------------------

POLICY = DeliveryPolicy(max_attempts=4, timeout=timedelta(seconds=10), allow_hosts=["127.0.0.1"])


def test_a_vendor_without_its_own_policy_keeps_the_gateways() -> None:
    assert POLICY.for_vendor(VendorSpec.model_validate(vendor(name=None))) == POLICY


def test_a_vendor_timeout_replaces_only_the_timeout() -> None:
    policy = POLICY.for_vendor(VendorSpec.model_validate(vendor(name=None, timeout="3s")))
    assert policy.timeout == timedelta(seconds=3)
    assert policy.model_dump(exclude={"timeout"}) == POLICY.model_dump(exclude={"timeout"})
    assert (policy.schedule, policy.attempts) == (None, 4)
    assert POLICY.timeout == timedelta(seconds=10), "the gateway's policy is not changed"


def test_a_vendor_schedule_replaces_the_schedule_and_the_number_of_attempts() -> None:
    policy = POLICY.for_vendor(VendorSpec.model_validate(vendor(name=None, schedule=["0s", "3s"])))
    assert (policy.schedule, policy.attempts) == ([timedelta(0), timedelta(seconds=3)], 2)
    assert policy.model_dump(exclude={"schedule"}) == POLICY.model_dump(exclude={"schedule"})
    scheduled = DeliveryPolicy(schedule=[timedelta(0)] * 6)
    assert scheduled.for_vendor(VendorSpec.model_validate(vendor(name=None, timeout="1s"))).attempts == 6


def test_the_shipped_vendors_file_loads_and_every_vendor_resolves(monkeypatch) -> None:
    config = load_yaml(CONFIG_DIR / "vendors.yaml", VendorsConfig)
    for v in config.vendors:  # the defaults, not whatever this machine has exported
        for source in [*v.secrets, *v.callback_secrets]:
            if not isinstance(source, str):
                monkeypatch.delenv(source.env, raising=False)
    resolved = [v.to_vendor() for v in config.vendors]
    assert [v.name for v in resolved] == ["acme-networks", "globex-hardware"]
    for v in resolved:
        assert v.secrets and v.callback_secrets
        assert not set(v.secrets) & set(v.callback_secrets), "signing and callback secrets differ"
    acme = resolved[0]
    assert (acme.timeout, len(acme.schedule or [])) == (timedelta(seconds=10), 8)
    assert config.delivery.for_vendor(acme).attempts == 8
    assert set(config.delivery.allow_hosts) >= {"127.0.0.1"}
