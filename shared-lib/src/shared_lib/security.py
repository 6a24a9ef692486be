"""Passwords (bcrypt through passlib) and asymmetric JWTs (python-jose).

Only core-service holds a :class:`TokenIssuer` (the private key); every
service verifies with :class:`TokenVerifier` and core's public key. An access
token names its login session (``sid``) and its user's token version (``ver``):
core refuses one whose session is revoked, both services one whose version is
older than the user's (a password change raises it).

Each key is parsed once, when the verifier or issuer is built, and a verified
token's claims are kept (a bounded LRU) until the token expires: a request with
a token seen before costs a dictionary lookup, not an RSA verification. What
can change during a token's life (a revoked session, a newer token version, a
deactivated user) is not a claim: the services check it on every request.

Password hashing runs in worker threads, a bounded number at a time: beyond
``max_waiting`` callers queued, :class:`HashingBusy` (the API answers 503).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from jose import JWTError, jwk, jwt
from passlib.context import CryptContext

_ALLOWED_ALGORITHMS = {"RS256", "RS384", "RS512", "ES256", "ES384"}


class HashingBusy(Exception):
    """Too many password hashes are waiting: try again shortly."""


class PasswordHasher:
    def __init__(self, rounds: int = 12, concurrency: int = 2, max_waiting: int = 32) -> None:
        self._context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)
        self._concurrency = concurrency
        self._max_waiting = max_waiting
        self._waiting = 0
        self._slots: asyncio.Semaphore | None = None  # made in the event loop, on first use
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        return self._context.hash(password)

    def verify(self, password: str, hashed: str) -> bool:
        try:
            return self._context.verify(password, hashed)
        except (ValueError, TypeError):
            return False

    async def _in_thread(self, fn: Any, *args: str) -> Any:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        if self._slots.locked() and self._waiting >= self._max_waiting:
            raise HashingBusy
        self._waiting += 1
        acquired = False
        try:
            await self._slots.acquire()
            acquired = True
            self._waiting -= 1
            return await anyio.to_thread.run_sync(fn, *args)
        finally:
            if acquired:
                self._slots.release()
            else:
                self._waiting -= 1

    async def hash_async(self, password: str) -> str:
        """Hash in a worker thread: bcrypt is slow on purpose and must not block the loop."""
        return await self._in_thread(self.hash, password)

    async def verify_async(self, password: str, hashed: str | None) -> bool:
        """Whether ``password`` matches ``hashed``; with no hash (an unknown user) the
        same work is done against a stand-in, so both answers take as long."""
        if hashed is None:
            if self._dummy is None:
                self._dummy = await self._in_thread(self.hash, uuid.uuid4().hex)
            await self._in_thread(self.verify, password, self._dummy)
            return False
        return bool(await self._in_thread(self.verify, password, hashed))


class InvalidToken(Exception):
    """The token is malformed, expired, forged or uses another algorithm."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    jti: str
    issued_at: datetime
    expires_at: datetime
    username: str | None = None
    #: the user's token version when it was issued
    token_version: int = 1
    #: the login session it belongs to
    session_id: str | None = None


class TokenVerifier:
    """Verifies core's access tokens with its public key. ``cache_size`` verified
    tokens are remembered until they expire (0: verify every time)."""

    def __init__(self, public_key_pem: str, algorithm: str = "RS256", *,
                 cache_size: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        if algorithm not in _ALLOWED_ALGORITHMS:
            raise ValueError(f"not an asymmetric algorithm: {algorithm}")
        self._key = jwk.construct(public_key_pem, algorithm)
        self._algorithm = algorithm
        self._cache: OrderedDict[str, TokenClaims] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock

    def verify(self, token: str) -> TokenClaims:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at.timestamp() > self._clock():
                self._cache.move_to_end(token)
                return cached
            del self._cache[token]
            raise InvalidToken("Signature has expired.")
        claims = self._verify(token)
        if self._cache_size > 0:
            self._cache[token] = claims
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != self._algorithm:
                raise InvalidToken("unexpected algorithm")
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                options={"require_exp": True, "require_iat": True, "require_sub": True,
                         "require_jti": True},
            )
            return TokenClaims(
                user_id=int(claims["sub"]),
                jti=str(claims["jti"]),
                issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
                username=claims.get("username"),
                token_version=int(claims.get("ver", 1)),
                session_id=str(claims["sid"]) if "sid" in claims else None,
            )
        except InvalidToken:
            raise
        except (JWTError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise InvalidToken(str(exc)) from exc


class TokenIssuer:
    def __init__(self, private_key_pem: str, algorithm: str = "RS256",
                 lifetime: timedelta = timedelta(hours=24)) -> None:
        if algorithm not in _ALLOWED_ALGORITHMS:
            raise ValueError(f"not an asymmetric algorithm: {algorithm}")
        self._key = jwk.construct(private_key_pem, algorithm)
        self._algorithm = algorithm
        self._lifetime = lifetime

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    def issue(self, user_id: int, now: datetime | None = None,
              username: str | None = None, token_version: int = 1,
              session_id: str | None = None) -> str:
        now = now or datetime.now(UTC)
        claims: dict[str, object] = {
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int((now + self._lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
            "ver": token_version,
        }
        if session_id is not None:
            claims["sid"] = session_id
        if username is not None:
            claims["username"] = username  # usernames never change
        return jwt.encode(claims, self._key, algorithm=self._algorithm)
