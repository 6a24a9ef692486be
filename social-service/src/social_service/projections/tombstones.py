"""Deleted users and posts, as the event handlers must see them.

A user is *deleted* once purge_user ran (the pivot of delete_account: the
account is never reactivated after it) or user.deleted arrived; a user who is
only deactivated may still be reactivated by the saga's compensation, so
nothing of theirs is dropped then. A post is *withdrawn* while purge_post has
hidden it (the delete_post saga may still restore it) and *deleted* once
post.deleted arrived.

The use cases that would create a follow edge or a notification read the
rows involved ``FOR SHARE`` (whatever their state: a row a ``WHERE`` filters
out is not locked), users first and then the post, the order purge_user takes
them in. A purge running at the same time therefore finishes first and the event
sees its tombstone, or waits for the event's transaction and then removes
what it wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.database import Queries, Statement, Transaction
from social_service.models import PostProjection, UserProjection

#: built once: every event about users or posts asks it
_DELETED = (select(UserProjection.deleted)
            .where(UserProjection.id.in_(bindparam("ids", expanding=True)))
            .order_by(UserProjection.id).with_for_update(read=True))


_DELETED_DIRECT = Statement("users.deleted", """
    SELECT deleted FROM users WHERE id = ANY($1::bigint[]) ORDER BY id FOR SHARE""")


async def any_user_deleted(tx: Transaction, user_ids: Iterable[int]) -> bool:
    """Whether one of these users is deleted; their rows are read FOR SHARE, in id order."""
    ids = sorted(set(user_ids))
    if isinstance(tx, Queries):
        return any(r["deleted"] for r in await tx.fetch(_DELETED_DIRECT, ids))
    return any((await tx.execute(_DELETED, {"ids": ids})).scalars())


async def mark_user_deleted(session: AsyncSession, user_id: int, seq: int) -> None:
    """Make the user an inactive, deleted tombstone at ``seq`` at least (no older
    user event revives it); a user not projected yet gets a tombstone row."""
    stmt = pg_insert(UserProjection).values(id=user_id, username="", is_active=False,
                                            deleted=True, version=seq)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[UserProjection.id],
        set_={"is_active": False, "deleted": True,
              "version": func.greatest(UserProjection.version, stmt.excluded.version)}))


class PostState(StrEnum):
    visible = "visible"  # published, pending, or not projected yet
    withdrawn = "withdrawn"  # purged: hidden, but a restore may publish it again
    deleted = "deleted"  # deleted in core: for good


#: built once: every event about a post reads it
_POST_STATE = (select(PostProjection.published, PostProjection.version, PostProjection.deleted)
               .where(PostProjection.id == bindparam("post_id")).with_for_update(read=True))


_POST_STATE_DIRECT = Statement("posts.state", """
    SELECT published, version, deleted FROM posts WHERE id = $1 FOR SHARE""")


async def post_state(tx: Transaction, post_id: int) -> PostState:
    """The post's state; its row is read FOR SHARE (a purge running now finishes first)."""
    if isinstance(tx, Queries):
        row = await tx.fetchrow(_POST_STATE_DIRECT, post_id)
        if row is None:
            return PostState.visible
        published, version, deleted = row["published"], row["version"], row["deleted"]
    else:
        found = (await tx.execute(_POST_STATE, {"post_id": post_id})).first()
        if found is None:
            return PostState.visible
        published, version, deleted = found.published, found.version, found.deleted
    if published or version == 0:
        return PostState.visible
    return PostState.deleted if deleted else PostState.withdrawn
