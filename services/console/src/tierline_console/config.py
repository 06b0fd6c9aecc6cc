"""The console's settings (environment, TIERLINE_ prefix). It has no database: only upstream URLs."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The upstream services, by the name pages use, and the setting that holds each one's URL.
UPSTREAMS = ("intake", "router", "sla-monitor", "vendor-gateway", "notifier")


class MissingSecret(RuntimeError):
    """The console cannot seal sessions: TIERLINE_CONSOLE_SECRET is unset."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the console listens on.")
    port: int = Field(default=8000, description="Port the console listens on.")
    log_level: str = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR (JSON lines on stdout)."
    )
    public_url: str | None = Field(default=None, description="Base URL browsers use to reach the console.")
    max_body_bytes: int = Field(default=256 * 1024, description="Larger request bodies are refused with 413.")
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("TIERLINE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka brokers, comma-separated host:port (the live feed reads the event topics).",
    )
    kafka_topic_prefix: str = Field(
        default="", description="Prepended to every topic name, as on the services that publish them."
    )
    topic_partitions: int = Field(
        default=6, ge=1, description="Partitions of the event topics, if the console is first to create them."
    )
    topic_replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of the event topics it creates (3 in production)."
    )
    live_max_streams: int = Field(
        default=1000, ge=1, description="Open live streams (browser tabs) one console serves; more get 503."
    )
    live_heartbeat_seconds: float = Field(
        default=15.0, gt=0, le=60, description="An idle live stream sends a comment line this often."
    )
    intake_url: str = Field(default="http://127.0.0.1:8001", description="Intake's API: incidents, keys.")
    router_url: str = Field(default="http://127.0.0.1:8002", description="The router's API: queues, agents.")
    sla_monitor_url: str = Field(
        default="http://127.0.0.1:8003", description="The SLA monitor's API: policies, calendars, clocks."
    )
    vendor_gateway_url: str = Field(
        default="http://127.0.0.1:8004", description="The vendor gateway's API: vendors, cases."
    )
    notifier_url: str = Field(
        default="http://127.0.0.1:8005", description="The notifier's API: the notification log, directory."
    )
    upstream_timeout_seconds: float = Field(
        default=10.0, description="How long one call to another service may take before the page says so."
    )
    console_secret: SecretStr | None = Field(
        default=None,
        description="Fernet keys sealing the session cookies (generate one with `python -m tierline_console "
        "secret`); comma-separated, newest first, to rotate. Required: `make run` generates one.",
    )
    console_session_hours: float = Field(
        default=12.0, gt=0, le=24, description="A session ends this many hours after sign-in (at most 24)."
    )
    console_idle_minutes: int = Field(
        default=60,
        ge=1,
        le=24 * 60,
        description="A session unused this many minutes ends (the cookie notes its last use once a minute).",
    )

    @field_validator("console_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("console_secret")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        for position, key in enumerate(parse_keys(value), start=1):
            try:
                Fernet(key)
            except ValueError:
                raise ValueError(
                    f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes); "
                    "generate one with `python -m tierline_console secret`"
                ) from None
        return value

    def upstream_urls(self) -> dict[str, str]:
        return {
            "intake": self.intake_url,
            "router": self.router_url,
            "sla-monitor": self.sla_monitor_url,
            "vendor-gateway": self.vendor_gateway_url,
            "notifier": self.notifier_url,
        }

    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.console_session_hours)

    def idle_timeout(self) -> timedelta:
        return timedelta(minutes=self.console_idle_minutes)

    def sealing_keys(self) -> list[str]:
        keys = parse_keys(self.console_secret)
        if not keys:
            raise MissingSecret(
                "TIERLINE_CONSOLE_SECRET is not set: the console seals its session cookies with it. "
                "Generate one with `python -m tierline_console secret` (`make run` does this for you)."
            )
        return keys


def parse_keys(value: SecretStr | None) -> list[str]:
    """``new,old`` → the keys, newest first."""
    raw = value.get_secret_value() if value is not None else ""
    return [k.strip() for k in raw.split(",") if k.strip()]


def new_secret() -> str:
    return Fernet.generate_key().decode()
