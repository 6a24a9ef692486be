"""Likes: toggling one (with the post's exact counter and its event), and the removal
of every like of an account being deleted."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import Like, User
from core_service.services import audience
from core_service.services.post_counters import change_locked_counters, lock_published_post
from instasaga.messages import PostLiked, PostUnliked
from instasaga.services import CORE
from shared_lib.outbox import publish_event

#: built once: a like, and taking it back
_LIKE = (pg_insert(Like).values(post_id=bindparam("post_id"), user_id=bindparam("user_id"))
         .on_conflict_do_nothing().returning(Like.user_id))
_UNLIKE = delete(Like).where(Like.post_id == bindparam("post_id"),
                             Like.user_id == bindparam("user_id"))


async def toggle_like(session: AsyncSession, user: User, post_id: int) -> tuple[bool, int]:
    """Like the post, or take the like back; whether it is liked now, and its count."""
    post = await lock_published_post(session, post_id)
    await audience.require_post_access(session, user.id, post.author_id, contact=True)
    ids = {"post_id": post_id, "user_id": user.id}
    inserted = await session.scalar(_LIKE, ids)
    if inserted is None:
        await session.execute(_UNLIKE, ids)
    liked = inserted is not None
    row = await change_locked_counters(session, post, like_count=1 if liked else -1)
    event = PostLiked if liked else PostUnliked
    await publish_event(session, event(
        seq=row.version, post_id=post_id, post_author_id=post.author_id, user_id=user.id,
        username=user.username, like_count=row.like_count), source=CORE)
    return liked, row.like_count


#: one statement however many likes: delete them, and take one off each liked post of
#: others (rows locked in id order, like every other multi-post change)
_REMOVE_LIKES_OF = text("""
WITH gone AS (
    DELETE FROM likes WHERE user_id = :user_id RETURNING post_id
), locked AS (
    SELECT p.id FROM posts p JOIN gone ON gone.post_id = p.id
    WHERE p.author_id <> :user_id ORDER BY p.id FOR UPDATE OF p
)
UPDATE posts SET like_count = posts.like_count - 1, version = posts.version + 1
FROM locked WHERE posts.id = locked.id
RETURNING posts.id, posts.author_id, posts.version, posts.like_count
""")

async def remove_likes_of(session: AsyncSession, user_id: int, username: str
                          ) -> list[PostUnliked]:
    """Delete every like of a user; the counters of the posts of others go down,
    each with the ``post.unliked`` event to publish (their own posts are being
    deleted with them)."""
    rows = (await session.execute(_REMOVE_LIKES_OF, {"user_id": user_id})).all()
    return [PostUnliked(seq=r.version, post_id=r.id, post_author_id=r.author_id,
                        user_id=user_id, username=username, like_count=r.like_count)
            for r in sorted(rows, key=lambda r: r.id)]


