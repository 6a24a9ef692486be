"""Registration, sign-in and password changes.

A password hash never holds a database connection: the transaction that read
what the hash needs ends before it (its connection goes back to the pool), and
the write that follows starts a new one. An unknown login costs a hash too, so
its answer takes as long as a wrong password's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import User
from core_service.services import sessions
from core_service.services.users import user_updated_event
from instasaga.messages import UserRegistered
from instasaga.services import CORE
from shared_lib.errors import BadRequest, Forbidden
from shared_lib.outbox import publish_event
from shared_lib.security import PasswordHasher


async def _taken(session: AsyncSession, username: str, email: str) -> str | None:
    """Why the name or address cannot be registered, or None if both are free."""
    rows = (await session.execute(
        select(func.lower(User.email) == email.lower(),
               func.lower(User.username) == username.lower())
        .where(or_(func.lower(User.email) == email.lower(),
                   func.lower(User.username) == username.lower()))
    )).all()
    if any(r[0] for r in rows):
        return "Email already registered"
    if rows:
        return "Username already taken"
    return None


async def register(session: AsyncSession, hasher: PasswordHasher, *, username: str,
                   email: str, password: str, full_name: str | None) -> User:
    if (problem := await _taken(session, username, email)) is not None:
        raise BadRequest(problem)  # before hashing: a duplicate costs no hash
    await session.rollback()
    hashed = await hasher.hash_async(password)
    user = await session.scalar(
        pg_insert(User)
        .values(username=username, email=email.lower(), full_name=full_name,
                hashed_password=hashed)
        .on_conflict_do_nothing()
        .returning(User))
    if user is None:
        # a concurrent registration took the name or address first
        raise BadRequest(await _taken(session, username, email) or "Username already taken")
    await publish_event(session, UserRegistered(
        seq=user.version, user_id=user.id, username=user.username,
        full_name=user.full_name, bio=user.bio,
        profile_image_url=user.profile_image_url, is_active=True,
        token_version=user.token_version,
    ), source=CORE)
    return user


@dataclass(frozen=True)
class Credentials:
    user_id: int
    username: str
    token_version: int


async def authenticate(session: AsyncSession, hasher: PasswordHasher, login: str,
                       password: str) -> Credentials | None:
    """The active user whose e-mail or username is ``login`` and whose password
    matches, or None. Leaves no transaction open."""
    row = (await session.execute(
        select(User.id, User.username, User.token_version, User.is_active,
               User.hashed_password)
        .where(or_(func.lower(User.email) == login.lower(),
                   func.lower(User.username) == login.lower()))
    )).first()
    await session.rollback()
    matches = await hasher.verify_async(password, row.hashed_password if row else None)
    if row is None or not matches or not row.is_active:
        return None
    return Credentials(row.id, row.username, row.token_version)


async def check_password(session: AsyncSession, hasher: PasswordHasher, user: User,
                         password: str | None) -> None:
    """Re-authentication of a signed-in user (Forbidden when ``password`` is not theirs).
    Ends the request's transaction before hashing."""
    hashed = user.hashed_password
    await session.rollback()
    if not password or not await hasher.verify_async(password, hashed):
        raise Forbidden("Incorrect password")


async def change_password(session: AsyncSession, hasher: PasswordHasher, user: User,
                          current: str, new: str, access_lifetime: timedelta) -> None:
    """Set a new password, raise the token version (every older access token is
    refused: at once here, by social when ``user.updated`` arrives) and end every
    login session (``session.revoked``, which social applies on its own queue, so
    the old tokens are refused there even while ``user.updated`` waits)."""
    user_id = user.id
    await check_password(session, hasher, user, current)
    hashed = await hasher.hash_async(new)
    updated = (await session.execute(
        update(User).where(User.id == user_id)
        .values(hashed_password=hashed, token_version=User.token_version + 1,
                version=User.version + 1, updated_at=func.now())
        .returning(User.id, User.username, User.full_name, User.bio, User.profile_image_url,
                   User.is_active, User.is_private, User.version,
                   User.token_version))).one()
    await sessions.revoke_all(session, user_id, access_lifetime)
    await publish_event(session, user_updated_event(updated), source=CORE)
