"""Tokens, passwords and settings."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared_lib.security import (
    HashingBusy,
    InvalidToken,
    PasswordHasher,
    TokenIssuer,
    TokenVerifier,
)
from shared_lib.settings import (
    DEV_PRIVATE_KEY_FILE,
    DEV_PUBLIC_KEY_FILE,
    ServiceSettings,
    UnsafeSettings,
    read_pem,
)
from testkit.keys import new_rsa_keypair

DEV_PRIVATE = read_pem(None, DEV_PRIVATE_KEY_FILE)
DEV_PUBLIC = read_pem(None, DEV_PUBLIC_KEY_FILE)



def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_token_round_trip_carries_the_required_claims() -> None:
    token = TokenIssuer(DEV_PRIVATE).issue(42)
    claims = TokenVerifier(DEV_PUBLIC).verify(token)
    assert claims.user_id == 42
    assert claims.jti and claims.expires_at > claims.issued_at


def test_expired_token_is_refused() -> None:
    token = TokenIssuer(DEV_PRIVATE, lifetime=timedelta(minutes=1)).issue(
        1, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(InvalidToken):
        TokenVerifier(DEV_PUBLIC).verify(token)


def test_token_signed_with_another_key_is_refused() -> None:
    private, _ = new_rsa_keypair()
    with pytest.raises(InvalidToken):
        TokenVerifier(DEV_PUBLIC).verify(TokenIssuer(private).issue(1))


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_unsigned_or_symmetric_tokens_are_refused(alg: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    body = _b64({"sub": "1", "iat": now, "exp": now + 60, "jti": "x"})
    forged = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{body}."
    with pytest.raises(InvalidToken):
        TokenVerifier(DEV_PUBLIC).verify(forged)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "Bearer x"])
def test_garbage_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        TokenVerifier(DEV_PUBLIC).verify(token)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    clock = Clock()
    verifier = TokenVerifier(DEV_PUBLIC, clock=clock)
    token = TokenIssuer(DEV_PRIVATE, lifetime=timedelta(minutes=5)).issue(7)
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # from the cache, not verified again
    clock.now += 5 * 60 + 1
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    assert token not in verifier._cache


def test_a_forged_token_is_never_remembered() -> None:
    verifier = TokenVerifier(DEV_PUBLIC)
    good = TokenIssuer(DEV_PRIVATE).issue(7)
    verifier.verify(good)
    header, body, signature = good.split(".")
    forged_body = _b64({**json.loads(base64.urlsafe_b64decode(body + "==")), "sub": "8"})
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verifier.verify(f"{header}.{forged_body}.{signature}")


def test_the_cache_of_verified_tokens_is_bounded() -> None:
    verifier = TokenVerifier(DEV_PUBLIC, cache_size=2)
    issuer = TokenIssuer(DEV_PRIVATE)
    a, b, c = (issuer.issue(i) for i in (1, 2, 3))
    first_a = verifier.verify(a)
    verifier.verify(b)
    verifier.verify(a)  # a is the most recent now: b goes first
    verifier.verify(c)
    assert verifier.verify(a) is first_a
    assert len(verifier._cache) == 2 and b not in verifier._cache


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError):
        TokenVerifier(DEV_PUBLIC, "HS256")


def test_password_hashing() -> None:
    hasher = PasswordHasher(rounds=4)
    hashed = hasher.hash("correct horse")
    assert hashed.startswith("$2") and hasher.verify("correct horse", hashed)
    assert not hasher.verify("wrong horse", hashed)
    assert not hasher.verify("x", "not a hash")


def test_production_is_the_default_and_refuses_development_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT", raising=False)
    settings = ServiceSettings()
    assert settings.is_production and not settings.serves_docs
    with pytest.raises(UnsafeSettings, match="development JWT keys"):
        settings.check_deployable()
    _, public = new_rsa_keypair()
    monkeypatch.setenv("JWT_PUBLIC_KEY", public)
    assert not ServiceSettings().uses_development_keys


@pytest.mark.parametrize(("amqp_url", "database_url", "problem"), [
    ("amqp://guest:guest@mq:5672/", "postgresql://app:s3cret-long@db/app", "guest user"),
    ("amqp://app@mq:5672/", "postgresql://app:s3cret-long@db/app", "AMQP_URL has no password"),
    ("amqp://app:s3cret@mq1,amqp://guest:guest@mq2", "postgresql://app:s3cret@db/app",
     "guest user"),
    ("amqp://app:s3cret@mq:5672/", "postgresql://postgres@db/app", "DATABASE_URL has no"),
    ("amqp://app:s3cret@mq:5672/", "postgresql://postgres:postgres@db/app",
     "well-known default"),
])
def test_production_refuses_default_credentials(
        monkeypatch: pytest.MonkeyPatch, amqp_url: str, database_url: str, problem: str) -> None:
    _, public = new_rsa_keypair()
    settings = ServiceSettings(environment="production", jwt_public_key=public,
                               amqp_url=amqp_url, database_url=database_url)
    with pytest.raises(UnsafeSettings, match=problem):
        settings.check_deployable()


def test_production_with_real_credentials_is_deployable() -> None:
    _, public = new_rsa_keypair()
    settings = ServiceSettings(environment="production", jwt_public_key=public,
                               amqp_url="amqp://core:k8vX2q@mq:5672/",
                               database_url="postgresql://core:k8vX2q@db/core",
                               ops_token="an-operator-token-of-some-length")
    settings.check_deployable()
    assert not settings.serves_docs


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_and_test_must_be_said_and_accept_the_development_setup(
        environment: str) -> None:
    settings = ServiceSettings(environment=environment)
    settings.check_deployable()
    assert settings.uses_development_keys and settings.serves_docs


def test_database_url_is_normalised_for_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5432/db")
    s = ServiceSettings()
    assert s.database_url == "postgresql+asyncpg://u:p@h:5432/db"
    assert s.sync_database_url == "postgresql://u:p@h:5432/db"


class _SlowHasher(PasswordHasher):
    """Counts its verifications; each waits until the test lets it finish."""

    def __init__(self, **kwargs: int) -> None:
        super().__init__(rounds=4, **kwargs)
        self.verified: list[str] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def verify(self, password: str, hashed: str) -> bool:
        self.verified.append(hashed)
        self.started.set()
        self.release.wait(10)
        return super().verify(password, hashed)


async def test_an_unknown_user_costs_a_verification_too() -> None:
    hasher = _SlowHasher()
    hasher.release.set()
    assert not await hasher.verify_async("any password", None)
    assert len(hasher.verified) == 1 and hasher.verified[0].startswith("$2")


async def test_hashing_is_bounded_and_refuses_beyond_its_queue() -> None:
    hasher = _SlowHasher(concurrency=1, max_waiting=2)
    hashed = hasher.hash("correct horse")
    running = [asyncio.create_task(hasher.verify_async("correct horse", hashed))
               for _ in range(3)]  # one hashing, two waiting
    assert await asyncio.to_thread(hasher.started.wait, 10)
    await asyncio.sleep(0)  # the other two are queued behind it
    with pytest.raises(HashingBusy):
        await hasher.verify_async("correct horse", hashed)
    hasher.release.set()
    assert await asyncio.gather(*running) == [True, True, True]
    assert await hasher.verify_async("correct horse", hashed)  # room again
