"""Passwords (bcrypt through passlib) and asymmetric JWTs (python-jose).

Only core-service holds a :class:`TokenIssuer` (the private key); every
service verifies with :class:`TokenVerifier` and core's public key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
from jose import JWTError, jwt
from passlib.context import CryptContext

_ALLOWED_ALGORITHMS = {"RS256", "RS384", "RS512", "ES256", "ES384"}


class PasswordHasher:
    def __init__(self, rounds: int = 12) -> None:
        self._context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)

    def hash(self, password: str) -> str:
        return self._context.hash(password)

    def verify(self, password: str, hashed: str) -> bool:
        try:
            return self._context.verify(password, hashed)
        except (ValueError, TypeError):
            return False

    async def hash_async(self, password: str) -> str:
        """Hash in a worker thread: bcrypt is slow on purpose and must not block the loop."""
        return await anyio.to_thread.run_sync(self.hash, password)

    async def verify_async(self, password: str, hashed: str) -> bool:
        return await anyio.to_thread.run_sync(self.verify, password, hashed)


class InvalidToken(Exception):
    """The token is malformed, expired, forged or uses another algorithm."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    jti: str
    issued_at: datetime
    expires_at: datetime
    username: str | None = None


class TokenVerifier:
    def __init__(self, public_key_pem: str, algorithm: str = "RS256") -> None:
        if algorithm not in _ALLOWED_ALGORITHMS:
            raise ValueError(f"not an asymmetric algorithm: {algorithm}")
        self._key = public_key_pem
        self._algorithm = algorithm

    def verify(self, token: str) -> TokenClaims:
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
        self._key = private_key_pem
        self._algorithm = algorithm
        self._lifetime = lifetime

    def issue(self, user_id: int, now: datetime | None = None,
              username: str | None = None) -> str:
        now = now or datetime.now(UTC)
        claims: dict[str, object] = {
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int((now + self._lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if username is not None:
            claims["username"] = username  # usernames never change
        return jwt.encode(claims, self._key, algorithm=self._algorithm)
