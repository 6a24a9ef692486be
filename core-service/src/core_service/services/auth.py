"""Registration and sign-in."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import User
from shared_lib.contracts import CORE
from shared_lib.contracts.messages import UserRegistered
from shared_lib.errors import BadRequest
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
    hashed = await hasher.hash_async(password)
    if (problem := await _taken(session, username, email)) is not None:
        raise BadRequest(problem)
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
    ), source=CORE)
    return user


async def authenticate(session: AsyncSession, hasher: PasswordHasher, login: str,
                       password: str) -> User | None:
    """The active user whose e-mail or username is ``login`` and whose password
    matches, or None."""
    user = (await session.execute(
        select(User).where(or_(func.lower(User.email) == login.lower(),
                               func.lower(User.username) == login.lower()))
    )).scalars().first()
    if user is None or not await hasher.verify_async(password, user.hashed_password) \
            or not user.is_active:
        return None
    return user
