"""Settings read from the environment (pydantic-settings).

Nothing here is built at import time: each service calls its settings class
in its app factory. Development keys ship in ``shared_lib/devkeys`` and are
refused when ``ENVIRONMENT=production``.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_KEYS_DIR = Path(__file__).parent / "devkeys"
DEV_PRIVATE_KEY_FILE = DEV_KEYS_DIR / "dev_private_key.pem"
DEV_PUBLIC_KEY_FILE = DEV_KEYS_DIR / "dev_public_key.pem"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def read_pem(value: str | None, file: Path | None) -> str | None:
    """A PEM given inline or in a file, without comment lines."""
    text = value if value else (file.read_text() if file else None)
    if text is None:
        return None
    text = text.replace("\\n", "\n")
    return "\n".join(line for line in text.strip().splitlines() if not line.startswith("#")) + "\n"


def _normalise_db_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


class ServiceSettings(BaseSettings):
    """What every service reads from its environment."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    service_name: str = "service"
    environment: Environment = Environment.development
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/app"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    #: connections each process keeps open (no overflow: a burst waits for one)
    db_pool_size: int = Field(default=20, ge=1, le=200)

    jwt_public_key: str | None = None
    jwt_public_key_file: Path | None = None
    jwt_algorithm: str = "RS256"

    saga_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    saga_step_timeout_seconds: float = Field(default=10.0, gt=0)
    saga_step_max_attempts: int = Field(default=3, ge=1)
    saga_compensation_max_attempts: int = Field(default=10, ge=1)
    saga_scan_interval_seconds: float = Field(default=1.0, gt=0)

    outbox_batch_size: int = Field(default=200, ge=1, le=5000)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    consumer_prefetch: int = Field(default=32, ge=1, le=1000)
    message_delivery_limit: int = Field(default=5, ge=1, le=100)

    retention_outbox_seconds: float = Field(default=7 * 86400, gt=0)
    retention_inbox_seconds: float = Field(default=7 * 86400, gt=0)
    #: how long after its death a dead-lettered message may still be replayed
    #: (``make replay-dlq``); the inbox must remember it longer than that
    dlq_replay_window_seconds: float = Field(default=3 * 86400, ge=0)
    retention_batch: int = Field(default=1000, ge=1, le=100_000)
    retention_interval_seconds: float = Field(default=60.0, gt=0)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: str = "INFO"
    startup_retry_seconds: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _normalise(self) -> ServiceSettings:
        self.database_url = _normalise_db_url(self.database_url)
        return self

    @cached_property
    def public_key_pem(self) -> str:
        pem = read_pem(self.jwt_public_key, self.jwt_public_key_file)
        return pem if pem is not None else read_pem(None, DEV_PUBLIC_KEY_FILE)  # type: ignore[return-value]

    @property
    def uses_development_keys(self) -> bool:
        return self.public_key_pem == read_pem(None, DEV_PUBLIC_KEY_FILE)

    @model_validator(mode="after")
    def _refuse_dev_keys_in_production(self) -> ServiceSettings:
        if self.environment == Environment.production and self.uses_development_keys:
            raise ValueError(
                "ENVIRONMENT=production with the development JWT keys: set JWT_PUBLIC_KEY"
                " (and JWT_PRIVATE_KEY on core-service) or their *_FILE variants"
            )
        return self

    @property
    def sync_database_url(self) -> str:
        """The same database for tools that want a plain asyncpg DSN."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
