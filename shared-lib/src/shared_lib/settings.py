"""Settings read from the environment (pydantic-settings).

Nothing here is built at import time: each service calls its settings class
in its app factory. ``ENVIRONMENT`` defaults to ``production``: the development
keys shipped in ``shared_lib/devkeys``, guest broker credentials and passwordless
or default database passwords are accepted only when the environment says
``development`` or ``test`` explicitly (``make dev`` and the tests do). The check
runs when an app is built (:meth:`ServiceSettings.check_deployable`), so tools
that only need the database URL (migrations) run anywhere.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .messaging.addresses import broker_urls

DEV_KEYS_DIR = Path(__file__).parent / "devkeys"
DEV_PRIVATE_KEY_FILE = DEV_KEYS_DIR / "dev_private_key.pem"
DEV_PUBLIC_KEY_FILE = DEV_KEYS_DIR / "dev_public_key.pem"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


#: passwords that every guide and image default uses: refused in production
DEFAULT_PASSWORDS = frozenset({"", "guest", "postgres", "password", "changeme", "secret",
                               "admin", "rabbitmq"})


class UnsafeSettings(ValueError):
    """Settings that must not run in production (development keys, default credentials)."""


def _credential_problems(name: str, url: str) -> list[str]:
    """What is wrong with the credentials in a broker URL for production."""
    problems = []
    for one in broker_urls(url):  # one address or several
        parts = urlsplit(one)
        if (parts.username or "guest") == "guest":
            problems.append(f"{name} uses the guest user (or none)")
        if (parts.password or "") in DEFAULT_PASSWORDS:
            problems.append(f"{name} has no password or a well-known default one")
    return sorted(set(problems))


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
    #: ``development`` and ``test`` must be said explicitly: they accept the
    #: development keys and default credentials
    environment: Environment = Environment.production
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/app"
    #: one RabbitMQ URL, or several separated by commas (the nodes of a cluster: tried
    #: in order, and after a lost connection from the next one, see
    #: ``shared_lib.messaging.addresses``)
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    #: AMQP heartbeat (unless a URL says ``?heartbeat=``): a broker that stops answering
    #: without closing the connection is given up after (this + 1) x 3 seconds
    amqp_heartbeat_seconds: int = Field(default=2, ge=1, le=60)
    #: connections each process keeps open (no overflow: a burst waits for one)
    db_pool_size: int = Field(default=20, ge=1, le=200)
    #: the asyncpg pool of the HTTP hot paths (shared_lib.database), apart from the
    #: session's: a message backlog cannot take its connections
    db_http_pool_size: int = Field(default=6, ge=1, le=100)
    #: the asyncpg pool of the consumers' direct handlers, apart from the HTTP paths':
    #: a backlog of messages waits for these, never for a request's connections
    db_consumer_pool_size: int = Field(default=6, ge=1, le=100)

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
    #: how long a committed row is left to the dispatcher (published from memory right
    #: after its commit) before the relay sweeps it up
    outbox_grace_seconds: float = Field(default=2.0, ge=0, le=600)
    #: deliveries a row may fail (exchange missing, returned unroutable) before it is
    #: parked for an operator (about 8 minutes of attempts at the default)
    outbox_max_attempts: int = Field(default=30, ge=1, le=10_000)
    consumer_prefetch: int = Field(default=32, ge=1, le=1000)
    #: event messages handled together in one transaction at most (1, the default: one
    #: at a time; larger batches deadlock on hot rows, see docs/messaging.md)
    consumer_batch_size: int = Field(default=1, ge=1, le=1000)
    message_delivery_limit: int = Field(default=5, ge=1, le=100)

    retention_outbox_seconds: float = Field(default=7 * 86400, gt=0)
    retention_inbox_seconds: float = Field(default=7 * 86400, gt=0)
    #: how long an ``Idempotency-Key`` answers its first request's outcome (at least)
    retention_idempotency_seconds: float = Field(default=86400, gt=0)
    #: how long after its death a dead-lettered message may still be replayed
    #: (``make replay-dlq``); the inbox must remember it longer than that
    dlq_replay_window_seconds: float = Field(default=3 * 86400, ge=0)
    retention_batch: int = Field(default=1000, ge=1, le=100_000)
    retention_interval_seconds: float = Field(default=60.0, gt=0)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    #: ``/ops/*`` and ``/metrics`` ask for it in the ``X-Ops-Token`` header when set;
    #: unset, they are open in development and test and closed (403) in production
    ops_token: SecretStr | None = None
    #: ``/docs``, ``/redoc`` and ``/openapi.json``; off in production unless set
    docs_enabled: bool | None = None
    log_level: str = "INFO"
    startup_retry_seconds: float = Field(default=60.0, ge=0)
    #: tracing is on when set: spans are sent to ``<endpoint>/v1/traces`` (OTLP over
    #: HTTP: an OpenTelemetry Collector, Jaeger's OTLP port); empty or unset, it is off
    otel_exporter_otlp_endpoint: str | None = None
    #: the spans' service name (default ``<service_name>-service``)
    otel_service_name: str | None = None

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

    @property
    def is_production(self) -> bool:
        return self.environment == Environment.production

    @property
    def serves_docs(self) -> bool:
        return self.docs_enabled if self.docs_enabled is not None else not self.is_production

    def production_problems(self) -> list[str]:
        """Why these settings must not serve in production (empty when they may)."""
        problems = []
        if self.uses_development_keys:
            problems.append("the development JWT keys are in use: set JWT_PUBLIC_KEY"
                            " (and JWT_PRIVATE_KEY on core-service) or their *_FILE variants")
        problems += _credential_problems("AMQP_URL", self.amqp_url)
        db = urlsplit(self.sync_database_url)
        if (db.password or "") in DEFAULT_PASSWORDS:
            problems.append("DATABASE_URL has no password or a well-known default one")
        if self.ops_token is not None and len(self.ops_token.get_secret_value()) < 16:
            problems.append("OPS_TOKEN is shorter than 16 characters")
        return problems

    def check_deployable(self) -> None:
        """Refuse to serve in production with development keys or default credentials."""
        if self.is_production and (problems := self.production_problems()):
            raise UnsafeSettings(
                "ENVIRONMENT=production (the default) refuses: " + "; ".join(problems)
                + ". For a local run say ENVIRONMENT=development explicitly.")

    @property
    def sync_database_url(self) -> str:
        """The same database for tools that want a plain asyncpg DSN."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
