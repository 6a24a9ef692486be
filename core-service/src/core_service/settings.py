"""core-service settings (environment variables, see README)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field

from shared_lib.settings import DEV_PRIVATE_KEY_FILE, ServiceSettings, read_pem


class CoreSettings(ServiceSettings):
    service_name: str = "core"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/core"
    jwt_private_key: str | None = None
    jwt_private_key_file: Path | None = None
    access_token_minutes: int = Field(default=15, ge=1, le=60 * 24)
    #: a refresh token unused this long expires (each use starts the count again)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    #: password hashes computed at once per process, and how many may wait for one;
    #: beyond that, sign-in and registration answer 503 with Retry-After
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    password_hash_queue: int = Field(default=32, ge=0, le=10_000)

    @cached_property
    def private_key_pem(self) -> str:
        pem = read_pem(self.jwt_private_key, self.jwt_private_key_file)
        if pem is not None:
            return pem
        if not DEV_PRIVATE_KEY_FILE.is_file():  # e.g. in an image: none holds a private key
            raise ValueError("no JWT private key: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE")
        return read_pem(None, DEV_PRIVATE_KEY_FILE)  # type: ignore[return-value]

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        try:
            private = self.private_key_pem
        except ValueError as exc:
            return [*problems, str(exc)]
        if DEV_PRIVATE_KEY_FILE.is_file() and private == read_pem(None, DEV_PRIVATE_KEY_FILE):
            problems.append("the development JWT private key is in use: set JWT_PRIVATE_KEY"
                            " or JWT_PRIVATE_KEY_FILE")
        return problems
