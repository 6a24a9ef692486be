"""Login sessions and their refresh tokens.

A refresh token is ``<session id>.<secret>``; only the SHA-256 of the secret is
stored. Every refresh replaces the secret (rotation). A token whose session is
known but whose secret is not the current one is a rotated token presented
again: it was copied, so the whole session is revoked, and with it every access
token that names it.

A revocation is announced (``session.revoked``, in the same transaction) so that
social refuses the session's access tokens too, until the last of them expires:
``access_lifetime`` after the revocation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Update, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuthSession, User
from instasaga.messages import SessionRevoked
from instasaga.services import CORE
from shared_lib.outbox import publish_events


class InvalidRefreshToken(Exception):
    """Malformed, unknown, expired or revoked; or reused, which revoked its session."""


@dataclass(frozen=True)
class Grant:
    """What a new access token is made of, with the refresh token that goes with it."""

    user_id: int
    username: str
    token_version: int
    session_id: uuid.UUID
    refresh_token: str


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _parse(token: str) -> tuple[uuid.UUID, str]:
    sid, sep, secret = token.partition(".")
    try:
        if not sep or not secret:
            raise ValueError
        return uuid.UUID(hex=sid), secret
    except ValueError:
        raise InvalidRefreshToken from None


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


async def open_session(session: AsyncSession, user_id: int, username: str,
                       token_version: int, lifetime: timedelta) -> Grant:
    sid, secret = uuid.uuid4(), _new_secret()
    session.add(AuthSession(id=sid, user_id=user_id, secret_hash=_digest(secret),
                            expires_at=datetime.now(UTC) + lifetime))
    await session.flush()
    return Grant(user_id, username, token_version, sid, f"{sid.hex}.{secret}")


async def rotate(session: AsyncSession, token: str, lifetime: timedelta,
                 access_lifetime: timedelta) -> Grant:
    """A new refresh token for the session of ``token``. A reused token revokes its
    session before :class:`InvalidRefreshToken` is raised: the caller commits either way."""
    sid, secret = _parse(token)
    row = (await session.execute(
        select(AuthSession.secret_hash, AuthSession.expires_at, AuthSession.revoked_at,
               User.id, User.username, User.token_version, User.is_active)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == sid)
        .with_for_update(of=AuthSession))).first()
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.is_active:
        raise InvalidRefreshToken
    if not hmac.compare_digest(row.secret_hash, _digest(secret)):
        await revoke(session, sid, access_lifetime)
        raise InvalidRefreshToken
    new_secret = _new_secret()
    await session.execute(
        update(AuthSession).where(AuthSession.id == sid)
        .values(secret_hash=_digest(new_secret), refreshed_at=func.now(),
                expires_at=now + lifetime))
    return Grant(row.id, row.username, row.token_version, sid, f"{sid.hex}.{new_secret}")


async def _revoke_where(session: AsyncSession, stmt: Update,
                        access_lifetime: timedelta) -> None:
    """Revoke the sessions ``stmt`` selects (those not revoked yet) and announce each."""
    revoked = (await session.execute(
        stmt.where(AuthSession.revoked_at.is_(None)).values(revoked_at=func.now())
        .returning(AuthSession.id, AuthSession.user_id))).all()
    until = datetime.now(UTC) + access_lifetime
    await publish_events(session, [SessionRevoked(user_id=row.user_id, session_id=row.id,
                                                  until=until) for row in revoked],
                         source=CORE)


async def revoke(session: AsyncSession, sid: uuid.UUID, access_lifetime: timedelta) -> None:
    await _revoke_where(session, update(AuthSession).where(AuthSession.id == sid),
                        access_lifetime)


async def log_out(session: AsyncSession, token: str, access_lifetime: timedelta) -> None:
    """Revoke the session of ``token`` (current or rotated: either way it ends)."""
    sid, _ = _parse(token)
    await revoke(session, sid, access_lifetime)


async def revoke_all(session: AsyncSession, user_id: int, access_lifetime: timedelta) -> None:
    await _revoke_where(session, update(AuthSession).where(AuthSession.user_id == user_id),
                        access_lifetime)
