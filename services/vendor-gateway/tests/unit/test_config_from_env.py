"""vendors.yaml values from the environment: webhook URLs and extra SSRF allow-hosts, as secrets already are.

One file serves `make run` (the defaults, a simulator on this host) and docker compose, whose
environment points the vendors at the simulators' container names and allow-lists them.
"""

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from tierline_shared import ssrf
from tierline_shared.config_files import ConfigError, load_yaml
from tierline_vendor_gateway.config import DeliveryPolicy, FromEnv, VendorConfig, VendorsConfig

CONFIG_DIR = Path(__file__).resolve().parents[4] / "deploy" / "config"
SECRET = "whsec_" + base64.b64encode(b"a" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"b" * 32).decode()
URL_VAR = "TIERLINE_TEST_ACME_WEBHOOK_URL"
HOSTS_VAR = "TIERLINE_TEST_ALLOW_HOSTS"


def declared(webhook_url: Any) -> VendorConfig:
    return VendorConfig.model_validate(
        {"name": "acme", "webhook_url": webhook_url, "secrets": [SECRET], "callback_secrets": [OTHER]}
    )


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (URL_VAR, HOSTS_VAR):
        monkeypatch.delenv(name, raising=False)


def test_a_webhook_url_from_the_environment_wins_over_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    vendor = declared({"env": URL_VAR, "default": "http://127.0.0.1:9100/tierline/cases"})
    assert str(vendor.to_vendor().webhook_url) == "http://127.0.0.1:9100/tierline/cases"
    monkeypatch.setenv(URL_VAR, "http://vendor-simulator-acme:9100/tierline/cases")
    assert str(vendor.to_vendor().webhook_url) == "http://vendor-simulator-acme:9100/tierline/cases"


def test_an_empty_variable_falls_back_to_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # compose passes ${VAR:-} as an empty string when the operator set nothing
    monkeypatch.setenv(URL_VAR, "")
    vendor = declared({"env": URL_VAR, "default": "https://hooks.acme.example/cases"})
    assert str(vendor.to_vendor().webhook_url) == "https://hooks.acme.example/cases"


def test_a_webhook_url_with_neither_variable_nor_default_names_the_variable() -> None:
    with pytest.raises(ValueError, match=f"vendor acme: no webhook_url \\(set {URL_VAR}\\)"):
        declared({"env": URL_VAR}).to_vendor()


def test_a_bad_url_from_the_environment_is_refused_as_a_written_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_VAR, "https://admin:hunter2@hooks.acme.example/cases")
    with pytest.raises(ValueError, match=r"vendor acme: webhook_url: .*credentials") as info:
        declared({"env": URL_VAR}).to_vendor()
    assert "hunter2" not in str(info.value)
    monkeypatch.setenv(URL_VAR, "not a url")
    with pytest.raises(ValueError, match="vendor acme: webhook_url"):
        declared({"env": URL_VAR}).to_vendor()


def test_a_written_webhook_url_is_still_checked_at_load() -> None:
    assert str(declared("https://hooks.acme.example/cases").to_vendor().webhook_url).endswith("/cases")
    with pytest.raises(ValidationError) as info:
        declared("not a url")
    assert len(info.value.errors()) == 1, "one error for the form used, not one per accepted form"
    with pytest.raises(ValidationError, match="Extra inputs"):
        declared({"env": URL_VAR, "fallback": "https://hooks.acme.example/cases"})


def test_allow_hosts_from_the_environment_are_added_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = ["127.0.0.1", {"env": HOSTS_VAR}]
    assert DeliveryPolicy.model_validate({"allow_hosts": entries}).allow_hosts == ["127.0.0.1"]
    monkeypatch.setenv(HOSTS_VAR, "vendor-simulator-acme, vendor-simulator-globex,,10.0.0.0/8")
    assert DeliveryPolicy.model_validate({"allow_hosts": entries}).allow_hosts == [
        "127.0.0.1",
        "vendor-simulator-acme",
        "vendor-simulator-globex",
        "10.0.0.0/8",
    ]


def test_an_allow_host_entry_may_have_a_default() -> None:
    policy = DeliveryPolicy.model_validate({"allow_hosts": [FromEnv(env=HOSTS_VAR, default="localhost")]})
    assert policy.allow_hosts == ["localhost"]


def test_the_shipped_file_reads_urls_and_allow_hosts_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What docker-compose.yml sets; unset, the `make run` defaults on 127.0.0.1 stay."""
    names = ("TIERLINE_VENDOR_ACME_NETWORKS_WEBHOOK_URL", "TIERLINE_VENDOR_GLOBEX_HARDWARE_WEBHOOK_URL")
    for name in (*names, "TIERLINE_VENDOR_ALLOW_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    config = load_yaml(CONFIG_DIR / "vendors.yaml", VendorsConfig)
    urls = [str(v.to_vendor().webhook_url) for v in config.vendors]
    assert urls == ["http://127.0.0.1:9100/tierline/cases", "http://127.0.0.1:9101/tierline/cases"]
    assert config.delivery.allow_hosts == ["127.0.0.1", "localhost"]

    monkeypatch.setenv(names[0], "http://vendor-simulator-acme:9100/tierline/cases")
    monkeypatch.setenv(names[1], "http://vendor-simulator-globex:9101/tierline/cases")
    monkeypatch.setenv("TIERLINE_VENDOR_ALLOW_HOSTS", "vendor-simulator-acme,vendor-simulator-globex")
    config = load_yaml(CONFIG_DIR / "vendors.yaml", VendorsConfig)
    # compose's list replaces the loopback defaults: a container's own loopback is no webhook target
    assert config.delivery.allow_hosts == ["vendor-simulator-acme", "vendor-simulator-globex"]
    urls = [str(v.to_vendor().webhook_url) for v in config.vendors]
    assert [urlsplit(url).hostname for url in urls] == ["vendor-simulator-acme", "vendor-simulator-globex"]
    for url in urls:  # plain http to a private container address: allowed only because it is listed
        ssrf.check_url(url, config.delivery.allow_hosts)
        with pytest.raises(ssrf.Refused, match="not allow-listed"):
            ssrf.check_url(url, ["127.0.0.1", "localhost"])


def test_a_bad_url_in_the_environment_fails_the_file_load_naming_the_vendor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vendors.yaml"
    path.write_text(
        "vendors:\n"
        "  - name: acme\n"
        f"    webhook_url: {{env: {URL_VAR}}}\n"
        f"    secrets: ['{SECRET}']\n"
        f"    callback_secrets: ['{OTHER}']\n"
    )
    with pytest.raises(ConfigError, match=f"vendor acme: no webhook_url \\(set {URL_VAR}\\)"):
        load_yaml(path, VendorsConfig)
    monkeypatch.setenv(URL_VAR, "ftp://hooks.acme.example/cases")
    with pytest.raises(ConfigError, match="vendor acme: webhook_url"):
        load_yaml(path, VendorsConfig)
