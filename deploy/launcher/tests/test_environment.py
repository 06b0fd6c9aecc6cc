"""What `make run` hands each service: the user's TIERLINE_* settings, minus what it must decide, plus
what a working local system needs where the user set nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tierline_launcher.__main__ import (
    BANNER,
    _where_mail_comes_in,
    _where_mail_goes,
    console_secret,
    dev_api_key,
    link_secret,
)
from tierline_launcher.mail_catcher import MailCatcher
from tierline_launcher.procs import free_port
from tierline_launcher.system import (
    SERVICES,
    Infra,
    Services,
    development_settings,
    settings_from_environment,
    user_sets,
)

ROUTER = next(s for s in SERVICES if s.name == "router")
INTAKE = next(s for s in SERVICES if s.name == "intake")
CONSOLE = next(s for s in SERVICES if s.name == "console")


class NoDatabases(Infra):
    """Infra that fails any database request: proves which services ask for one."""

    def create_database(self, database: str) -> str:
        if database.endswith("console"):
            raise AssertionError(f"a database was made for {database}")
        return f"postgresql+asyncpg://u@127.0.0.1/{database}"


def test_user_settings_reach_every_service() -> None:
    env = {"TIERLINE_RATE_LIMIT_PER_MINUTE": "0", "TIERLINE_LOG_LEVEL": "DEBUG", "HOME": "/root"}
    for service in SERVICES:
        assert settings_from_environment(env, service) == {
            "TIERLINE_RATE_LIMIT_PER_MINUTE": "0",
            "TIERLINE_LOG_LEVEL": "DEBUG",
        }


def test_a_service_scoped_setting_wins_for_that_service_only() -> None:
    env = {"TIERLINE_LOG_LEVEL": "INFO", "TIERLINE_ROUTER__LOG_LEVEL": "DEBUG"}
    assert settings_from_environment(env, ROUTER) == {"TIERLINE_LOG_LEVEL": "DEBUG"}
    assert settings_from_environment(env, INTAKE) == {"TIERLINE_LOG_LEVEL": "INFO"}


def test_what_the_launcher_decides_is_not_taken_from_the_environment() -> None:
    env = {
        "TIERLINE_DATABASE_URL": "postgresql://elsewhere/x",
        "TIERLINE_PORT": "9999",
        "TIERLINE_ROUTER__PORT": "9998",
        "TIERLINE_KAFKA_BOOTSTRAP_SERVERS": "elsewhere:9092",
        "TIERLINE_PUBLIC_URL": "http://elsewhere",
        "TIERLINE_RUN_DIR": "/tmp/run",
        "TIERLINE_RUN_ROUTER_PORT": "18002",
        "TIERLINE_ROUTER_DATABASE_URL": "postgresql://elsewhere/router",
        "TIERLINE_CONFIG_DIR": "/etc/tierline",
        "TIERLINE_HOST": "0.0.0.0",  # readiness and the services' URLs of each other are on loopback
    }
    assert settings_from_environment(env, ROUTER) == {"TIERLINE_CONFIG_DIR": "/etc/tierline"}


# --- what `make run` adds for a working local system: the mail catcher, loopback chat, link secret


def test_by_default_the_notifier_mails_the_catcher_and_intake_shares_its_link_secret() -> None:
    settings = development_settings({"HOME": "/root"}, mail_port=1025, link_secret="s3cret")
    assert settings == {
        "intake": {"TIERLINE_LINK_SECRET": "s3cret", "TIERLINE_MAIL_LISTEN": "127.0.0.1:2525"},
        "router": {"TIERLINE_LINK_SECRET": "s3cret"},
        "notifier": {
            "TIERLINE_SMTP_HOST": "127.0.0.1",
            "TIERLINE_SMTP_PORT": "1025",
            "TIERLINE_SMTP_STARTTLS": "false",
            "TIERLINE_SMTP_TLS": "false",
            "TIERLINE_NOTIFY_ALLOW_HOSTS": "127.0.0.1,localhost",
            "TIERLINE_LINK_SECRET": "s3cret",
        },
    }


@pytest.mark.parametrize("variable", ["TIERLINE_SMTP_HOST", "TIERLINE_NOTIFIER__SMTP_HOST"])
def test_a_users_smtp_server_replaces_the_catcher(variable: str) -> None:
    env = {variable: "smtp.example.com"}
    assert user_sets(env, "notifier", "TIERLINE_SMTP_HOST")
    settings = development_settings(env, mail_port=None, link_secret="s")
    assert not {"TIERLINE_SMTP_HOST", "TIERLINE_SMTP_PORT"} & set(settings["notifier"])
    # a host set for another service only is not the notifier's
    assert not user_sets({"TIERLINE_ROUTER__SMTP_HOST": "x"}, "notifier", "TIERLINE_SMTP_HOST")


def test_the_users_allow_list_and_link_secret_are_kept() -> None:
    env = {"TIERLINE_NOTIFY_ALLOW_HOSTS": "10.0.0.0/8", "TIERLINE_LINK_SECRET": "mine,old"}
    settings = development_settings(env, mail_port=1025, link_secret="generated")
    assert all("TIERLINE_LINK_SECRET" not in settings.get(service, {}) for service in ("intake", "router"))
    assert "TIERLINE_NOTIFY_ALLOW_HOSTS" not in settings["notifier"]
    assert "TIERLINE_LINK_SECRET" not in settings["notifier"]


def test_service_settings_reach_that_service_over_the_users(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TIERLINE_NOTIFIER_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/notifier")
    monkeypatch.setenv("TIERLINE_INTAKE_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1/intake")
    monkeypatch.setenv("TIERLINE_SMTP_PORT", "2525")  # no host of their own: the catcher decides the port
    monkeypatch.setenv("TIERLINE_LOG_LEVEL", "DEBUG")
    services = Services(
        Infra(tmp_path, durable=False),
        ports={s.name: s.default_port for s in SERVICES},
        log_dir=tmp_path,
        config_dir=tmp_path,
        service_env=development_settings(os.environ, mail_port=1025, link_secret="shared"),
    )
    notifier = services.env_for(next(s for s in SERVICES if s.name == "notifier"))
    intake = services.env_for(INTAKE)
    assert (notifier["TIERLINE_SMTP_HOST"], notifier["TIERLINE_SMTP_PORT"]) == ("127.0.0.1", "1025")
    assert notifier["TIERLINE_LINK_SECRET"] == intake["TIERLINE_LINK_SECRET"] == "shared"
    assert notifier["TIERLINE_LOG_LEVEL"] == "DEBUG" and notifier["TIERLINE_PORT"] == "8005"
    assert "TIERLINE_SMTP_HOST" not in intake


def test_the_link_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = link_secret(tmp_path / "run")
    assert len(first) >= 40 and link_secret(tmp_path / "run") == first
    assert stat.S_IMODE((tmp_path / "run" / "link-secret").stat().st_mode) == 0o600
    assert link_secret(tmp_path / "other") != first
    path, key = dev_api_key(tmp_path / "run")
    assert key.startswith("tl_dev_") and key != first and dev_api_key(tmp_path / "run") == (path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_banner_names_every_service_and_where_mail_goes(tmp_path: Path) -> None:
    mail_log = tmp_path / "logs" / "mail.log"
    with MailCatcher(mail_log, port=free_port(), announce=lambda _: None) as catcher:
        banner = BANNER.format(
            **{s.name: f"http://127.0.0.1:{s.default_port}" for s in SERVICES},
            kafka="127.0.0.1:9092",
            postgres="postgresql://127.0.0.1:55432",
            api_key="tl_dev_x",
            key_file="dev-api-key",
            mail=_where_mail_goes(catcher, mail_log),
            mail_in=_where_mail_comes_in({}),
        )
    assert "notifier        http://127.0.0.1:8005" in banner
    assert "Mail in         smtp://127.0.0.1:2525: mail to support@" in banner
    assert "TIERLINE_MAIL_LISTEN" in _where_mail_comes_in({"TIERLINE_MAIL_LISTEN": ""})
    # the console is what people open: its URL comes first
    urls = [line.split()[1] for line in banner.splitlines() if "http://127.0.0.1:" in line.split(" (")[0]]
    assert urls[0] == "http://127.0.0.1:8000", banner
    assert f"caught at smtp://{catcher.address}, nothing is delivered: read it in {mail_log}" in banner
    assert "your SMTP server" in _where_mail_goes(None, mail_log)


# --- the console: no database, a sealing secret, the other services' URLs


def test_the_console_gets_no_database_but_every_other_services_url(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TIERLINE_ROUTER_URL", "http://elsewhere:1")  # the launcher decides the URLs
    monkeypatch.setenv("TIERLINE_DATABASE_URL", "postgresql://elsewhere/x")
    ports = {s.name: free_port() for s in SERVICES}
    services = Services(
        NoDatabases(tmp_path, durable=False), ports=ports, log_dir=tmp_path, config_dir=tmp_path
    )
    env = services.env_for(CONSOLE)
    assert "TIERLINE_DATABASE_URL" not in env
    assert env["TIERLINE_PORT"] == str(ports["console"])
    for name, variable in {
        "intake": "TIERLINE_INTAKE_URL",
        "router": "TIERLINE_ROUTER_URL",
        "sla-monitor": "TIERLINE_SLA_MONITOR_URL",
        "vendor-gateway": "TIERLINE_VENDOR_GATEWAY_URL",
        "notifier": "TIERLINE_NOTIFIER_URL",
    }.items():
        assert env[variable] == f"http://127.0.0.1:{ports[name]}", variable
    # the console's own settings accept what the launcher hands it
    from tierline_console.config import Settings

    monkeypatch.setattr(os, "environ", env)
    settings = Settings()
    assert settings.upstream_urls()["sla-monitor"] == f"http://127.0.0.1:{ports['sla-monitor']}"
    assert len(settings.sealing_keys()) == 1
    # the services with a database still get theirs
    assert services.env_for(INTAKE)["TIERLINE_DATABASE_URL"].endswith("/intake")


def test_without_a_given_secret_the_console_gets_one_per_run_shared_by_its_replicas(tmp_path: Path) -> None:
    infra = NoDatabases(tmp_path, durable=False)
    ports = {s.name: s.default_port for s in SERVICES}
    first = Services(infra, ports=ports, log_dir=tmp_path, config_dir=tmp_path)
    second = Services(infra, ports=ports, log_dir=tmp_path, config_dir=tmp_path)
    secret = first.env_for(CONSOLE)["TIERLINE_CONSOLE_SECRET"]
    assert secret == first.env_for(CONSOLE)["TIERLINE_CONSOLE_SECRET"]  # a replica: the same key
    assert secret != second.env_for(CONSOLE)["TIERLINE_CONSOLE_SECRET"]
    assert "TIERLINE_CONSOLE_SECRET" not in first.env_for(ROUTER)
    from cryptography.fernet import Fernet

    Fernet(secret)  # a valid key, or this raises


def test_make_run_keeps_its_console_secret_unless_the_user_sets_one(tmp_path: Path) -> None:
    kept = console_secret(tmp_path / "run")
    assert console_secret(tmp_path / "run") == kept
    assert stat.S_IMODE((tmp_path / "run" / "console-secret").stat().st_mode) == 0o600
    settings = development_settings({}, mail_port=None, link_secret="s", console_secret=kept)
    assert settings["console"] == {"TIERLINE_CONSOLE_SECRET": kept}
    for variable in ("TIERLINE_CONSOLE_SECRET", "TIERLINE_CONSOLE__CONSOLE_SECRET"):
        mine = development_settings(
            {variable: "theirs"}, mail_port=None, link_secret="s", console_secret=kept
        )
        assert "console" not in mine, variable
    services = Services(
        NoDatabases(tmp_path, durable=False),
        ports={s.name: s.default_port for s in SERVICES},
        log_dir=tmp_path,
        config_dir=tmp_path,
        service_env=settings,
    )
    assert services.env_for(CONSOLE)["TIERLINE_CONSOLE_SECRET"] == kept
