"""core's users as social keeps them (search, display names, token checks), and
the purge of a user whose account is being deleted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, Uuid, bindparam, func, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.contracts.messages import UserRegistered, UserUpdated
from social_service.models import UserProjection
from social_service.services import (
    blocks,
    follows,
    messages,
    notifications,
    posts,
    stories,
)
from social_service.services.tombstones import mark_user_deleted


@dataclass(frozen=True)
class Standing:
    """What social knows of a user, for a request made with their token."""

    is_active: bool
    username: str
    #: access tokens of an older version predate a password change
    token_version: int
    #: the account is gone for good
    deleted: bool


@dataclass(frozen=True)
class Purged:
    """What a purge of a user deleted."""

    messages: int
    stories: int
    notifications: int


@dataclass(frozen=True)
class TokenCheck:
    """The projected user (None when not projected yet: just registered) and whether
    the token's login session was revoked."""

    user: Standing | None
    session_revoked: bool


#: built once: every authenticated request of social runs it, in one round trip
_TOKEN_CHECK = text("""
    SELECT u.is_active, u.username, u.token_version, u.deleted,
           EXISTS (SELECT 1 FROM revoked_sessions r
                   WHERE r.session_id = :session_id AND r.until > now()) AS session_revoked
    FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = :user_id
""").bindparams(bindparam("session_id", type_=Uuid), bindparam("user_id", type_=BigInteger))

#: the token is core's signed word that the user's token version is at least its own
_RAISE_TOKEN_VERSION = (update(UserProjection)
                        .where(UserProjection.id == bindparam("user_id"),
                               UserProjection.token_version < bindparam("token_version"))
                        .values(token_version=bindparam("token_version")))


async def check_token(session: AsyncSession, user_id: int, session_id: uuid.UUID
                      ) -> TokenCheck:
    row = (await session.execute(_TOKEN_CHECK, {"user_id": user_id,
                                                "session_id": session_id})).one()
    user = None if row.username is None else Standing(
        is_active=row.is_active, username=row.username, token_version=row.token_version,
        deleted=row.deleted)
    return TokenCheck(user=user, session_revoked=row.session_revoked)


async def raise_token_version(session: AsyncSession, user_id: int, token_version: int) -> None:
    """A token newer than the projection (``user.updated`` of a password change is late):
    from now on the tokens older than it are refused, as core refuses them. Commits."""
    await session.execute(_RAISE_TOKEN_VERSION, {"user_id": user_id,
                                                 "token_version": token_version})
    await session.commit()


async def apply_change(session: AsyncSession, user: UserRegistered | UserUpdated) -> None:
    """Project a registration or an update, unless the row holds a newer ``seq``. The
    token version never goes down (a token may have raised it before the event came)."""
    values = {"username": user.username, "full_name": user.full_name,
              "profile_image_url": user.profile_image_url, "is_active": user.is_active,
              "token_version": user.token_version, "is_private": user.is_private,
              "version": user.seq}
    stmt = pg_insert(UserProjection).values(id=user.user_id, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UserProjection.id],
            set_={**values, "token_version": func.greatest(UserProjection.token_version,
                                                           stmt.excluded.token_version)},
            where=UserProjection.version < stmt.excluded.version,
        )
    )


async def purge(session: AsyncSession, user_id: int, seq: int) -> Purged:
    """Forget a user whose account is being deleted (delete_account's pivot):
    their messages, stories, notifications to or about them, search entry (kept
    as an inactive tombstone), follow edges (kept inactive) and their posts'
    hashtag links (the posts hidden until core's post.deleted events). The user
    becomes a deleted tombstone, locked first: an event still queued now
    creates nothing about them."""
    await mark_user_deleted(session, user_id, seq)
    await posts.withdraw_posts_of(session, user_id)
    deleted_messages = await messages.delete_involving(session, user_id)
    deleted_stories = await stories.delete_by_author(session, user_id)
    deleted_notifications = await notifications.delete_involving(session, user_id)
    await follows.deactivate_edges_of(session, user_id)
    await blocks.deactivate_edges_of(session, user_id)
    return Purged(messages=deleted_messages, stories=deleted_stories,
                  notifications=deleted_notifications)
