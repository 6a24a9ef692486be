"""Users: who is active, profiles and profile changes, the ``user.updated``
event, and the author's post counter."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import AuthSession, StoryRecord, User
from instasaga.messages import UserUpdated
from instasaga.services import CORE
from shared_lib.database import Database, Queries, Statement
from shared_lib.errors import NotFound, Unauthorized
from shared_lib.outbox import publish_event


def user_updated_event(user: User | UserRow) -> UserUpdated:
    """What the user events carry, from a ``User`` or a :class:`UserRow`."""
    return UserUpdated(seq=user.version, user_id=user.id, username=user.username,
                       full_name=user.full_name, bio=user.bio,
                       profile_image_url=user.profile_image_url, is_active=user.is_active,
                       token_version=user.token_version, is_private=user.is_private)


#: built once: every authenticated request of core runs it
_TOKEN_HOLDER = (
    select(User)
    .where(User.id == bindparam("user_id"), User.is_active,
           User.token_version == bindparam("token_version"),
           exists().where(AuthSession.id == bindparam("session_id"),
                          AuthSession.user_id == User.id,
                          AuthSession.revoked_at.is_(None)))
)


@dataclass(frozen=True)
class AccessToken:
    """What a request's verified access token says: whose it is, of which token
    version and login session (checked against the database on every request)."""

    user_id: int
    token_version: int
    session_id: uuid.UUID


#: the token's user (id, username) when the token is still good, as ``_TOKEN_HOLDER``:
#: a CTE for a hot path's statement, which fuses it with its own ($1 user id, $2 token
#: version, $3 session id)
TOKEN_HOLDER_CTE = """
    holder AS (
        SELECT u.id, u.username FROM users u
        WHERE u.id = $1 AND u.is_active AND u.token_version = $2
          AND EXISTS (SELECT 1 FROM auth_sessions s
                      WHERE s.id = $3 AND s.user_id = u.id AND s.revoked_at IS NULL))"""


@dataclass(frozen=True)
class TokenUser:
    """The user of a good access token."""

    id: int
    username: str


_TOKEN_USER = Statement("users.token_user",
                        f"WITH {TOKEN_HOLDER_CTE} SELECT id, username FROM holder")


async def token_user(db: Database, token: AccessToken) -> TokenUser:
    """The user of a good access token, in one autocommit statement; Unauthorized when
    it is no longer good."""
    row = await db.fetchrow(_TOKEN_USER, token.user_id, token.token_version, token.session_id)
    if row is None:
        raise Unauthorized
    return TokenUser(row["id"], row["username"])


async def token_holder(session: AsyncSession, user_id: int, token_version: int,
                       session_id: uuid.UUID) -> User | None:
    """The active user of an access token, or None when the token is no longer good:
    its session was revoked or the password changed since it was issued."""
    return (await session.execute(_TOKEN_HOLDER, {
        "user_id": user_id, "token_version": token_version, "session_id": session_id,
    })).scalar_one_or_none()


async def is_active(session: AsyncSession, user_id: int) -> bool:
    """Whether the user exists and is active."""
    return bool(await session.scalar(select(User.is_active).where(User.id == user_id)))


async def require_active(session: AsyncSession, user_id: int) -> None:
    if not await is_active(session, user_id):
        raise NotFound("User not found")


@dataclass(frozen=True)
class Profile:
    user: User
    has_active_story: bool


async def profile(session: AsyncSession, user_id: int) -> Profile:
    """An active user with whether they have a story that has not expired."""
    has_story = exists().where(StoryRecord.author_id == User.id,
                               StoryRecord.expires_at > func.now())
    row = (await session.execute(
        select(User, has_story.label("has_active_story"))
        .where(User.id == user_id, User.is_active)
    )).first()
    if row is None:
        raise NotFound("User not found")
    user, has_active_story = row
    return Profile(user, bool(has_active_story))


async def update_profile(session: AsyncSession, user: User, changes: dict[str, Any]) -> User:
    if not changes:
        return user
    updated = (await session.execute(
        update(User).where(User.id == user.id)
        .values(**changes, version=User.version + 1, updated_at=func.now())
        .returning(User)
        .execution_options(populate_existing=True)
    )).scalar_one()
    await publish_event(session, user_updated_event(updated), source=CORE)
    return updated


# ---------------------------------------------------------- delete_account
# The delete_account saga's steps, on the direct data path (shared_lib.database)
@dataclass(frozen=True)
class UserRow:
    """A user's fields that the user events carry, as a statement returned them."""

    id: int
    username: str
    full_name: str | None
    bio: str | None
    profile_image_url: str | None
    is_active: bool
    is_private: bool
    version: int
    token_version: int


#: ($1 user, $2 the state wanted); no row when the user is in that state already
_SET_ACTIVE = Statement("users.set_active", """
    UPDATE users SET is_active = $2, version = version + 1
    WHERE id = $1 AND is_active = NOT $2
    RETURNING id, username, full_name, bio, profile_image_url, is_active, is_private,
              version, token_version""")
_LOCK_VERSION = Statement("users.lock_version", """
    SELECT version FROM users WHERE id = $1 FOR UPDATE""")
#: the user's story records, then the user (and by their foreign keys whatever else is
#: theirs): the user's DELETE reads the stories' so that they go first
_DELETE_USER = Statement("users.delete", """
    WITH stories AS (
        DELETE FROM story_records WHERE author_id = $1 RETURNING 1
    )
    DELETE FROM users WHERE id = $1 AND (SELECT count(*) FROM stories) >= 0""")


async def set_active(q: Queries, user_id: int, active: bool) -> UserRow | None:
    """(De)activate a user; the user's fields after it, or None when the user is
    already in that state (or gone)."""
    row = await q.fetchrow(_SET_ACTIVE, user_id, active)
    return UserRow(**dict(row.items())) if row is not None else None


async def lock_version(q: Queries, user_id: int) -> int | None:
    """Lock the user's row; their version, or None when the user is gone."""
    return await q.fetchval(_LOCK_VERSION, user_id)


async def delete_user(q: Queries, user_id: int) -> None:
    """Delete the user and their story records (the last of their data here)."""
    await q.execute(_DELETE_USER, user_id)
