"""The console's configuration, from ``CONSOLE_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    #: the services' own ports (their /ops endpoints are not behind the gateway)
    core_url: str = "http://127.0.0.1:8001"
    social_url: str = "http://127.0.0.1:8002"
    #: the operator token: what the login form asks for, and what the console sends
    #: the services as X-Ops-Token
    ops_token: SecretStr
    #: the RabbitMQ management API, its credentials and the stack's vhost
    rabbitmq_api: str = "http://127.0.0.1:15672"
    rabbitmq_user: str = "guest"
    rabbitmq_password: SecretStr = SecretStr("guest")
    vhost: str = "/"
    #: AMQP URL of that vhost, for replaying dead letters
    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    host: str = "127.0.0.1"
    port: int = Field(default=8009, ge=1, le=65535)
    #: a session ends this long after its login
    session_seconds: float = Field(default=8 * 3600, gt=0)
    #: failed logins from one address within the window before it must wait
    login_failures: int = Field(default=5, ge=1)
    login_window_seconds: float = Field(default=300, gt=0)
    #: dead letters older than this stay where they are (the services' inbox window)
    replay_window_seconds: float = Field(default=259_200, gt=0)
    #: answers of the services and the management API
    upstream_timeout_seconds: float = Field(default=10, gt=0)
    #: mark the session cookie Secure (when the console is served over HTTPS)
    cookie_secure: bool = False
