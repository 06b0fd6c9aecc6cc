"""What `make run` hands each service: the user's TIERLINE_* settings, minus what it must decide."""

from __future__ import annotations

from tierline_launcher.system import SERVICES, settings_from_environment

ROUTER = next(s for s in SERVICES if s.name == "router")
INTAKE = next(s for s in SERVICES if s.name == "intake")


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
