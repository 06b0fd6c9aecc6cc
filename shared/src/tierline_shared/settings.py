"""Settings every service shares; each service subclasses it once in its config.py."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    database_url: str = Field(
        default="postgresql+asyncpg://tierline@127.0.0.1:5432/tierline",
        description="This service's own database (asyncpg URL; plain postgresql:// is accepted).",
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("TIERLINE_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka brokers, comma-separated host:port.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    port: int = Field(default=8000, description="Port the HTTP API listens on.")
    log_level: str = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR (JSON lines on stdout)."
    )
    config_dir: Path = Field(
        default=Path("deploy/config"),
        description="Folder of the YAML configuration (config as code).",
    )
    public_url: str | None = Field(default=None, description="Base URL clients use to reach this service.")
    bootstrap_api_key: str | None = Field(
        default=None,
        description="An admin API key every service accepts from the start (to create the real keys).",
    )
    rate_limit_per_minute: int = Field(
        default=600, description="Requests a minute per API key; 0 = unlimited."
    )
    max_body_bytes: int = Field(default=256 * 1024, description="Larger request bodies are refused with 413.")
    outbox_batch_size: int = Field(default=200, description="Events the outbox relay publishes per batch.")
    outbox_idle_seconds: float = Field(
        default=0.2, description="How often the relay looks for events when nothing woke it."
    )
    consumer_max_attempts: int = Field(
        default=5, description="Tries of a failing event before it goes to the topic's .dlq."
    )
    consumer_retry_initial_seconds: float = Field(
        default=0.05, description="First pause between tries (doubles, with jitter)."
    )
    consumer_retry_max_seconds: float = Field(default=2.0, description="Longest pause between tries.")
    kafka_topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name, so several environments can share one cluster.",
    )
    topic_partitions: int = Field(default=6, description="Partitions of the topics a service creates.")
    topic_replication_factor: int = Field(
        default=1, description="Replication factor of the topics a service creates (3 in production)."
    )

    link_secret: SecretStr | None = Field(
        default=None,
        description="Signs the acknowledge and CSAT links in notifications (notifier) and verifies them "
        "(intake): the same value on both. Comma-separated, newest first, to rotate it. Unset: no links.",
    )

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"
