"""A published post's counters (likes, comments): every change locks the post's row
first, so likes, comments and the post's deletion are serialised, and each
change makes the post one version newer (the events' ordering key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import PostStatus
from core_service.models import Post
from shared_lib.errors import NotFound


@dataclass(frozen=True)
class LockedPost:
    id: int
    author_id: int


#: built once: every like and comment locks its post with it
_LOCK_PUBLISHED = (select(Post.id, Post.author_id)
                   .where(Post.id == bindparam("post_id"),
                          Post.status == PostStatus.published.value)
                   .with_for_update())
#: built once: a like's or a comment's change of its post's counters
_CHANGE_COUNTERS = (update(Post).where(Post.id == bindparam("post_id"))
                    .values(like_count=Post.like_count + bindparam("likes"),
                            comment_count=Post.comment_count + bindparam("comments"),
                            version=Post.version + 1)
                    .returning(Post.author_id, Post.version, Post.like_count,
                               Post.comment_count))


async def lock_published_post(session: AsyncSession, post_id: int) -> LockedPost:
    """Lock a published post's row: every change of its counters goes through here,
    so likes, comments and deletion of one post are serialised."""
    row = (await session.execute(_LOCK_PUBLISHED, {"post_id": post_id})).first()
    if row is None:
        raise NotFound("Post not found")
    return LockedPost(row.id, row.author_id)


async def change_locked_counters(session: AsyncSession, post: LockedPost, *,
                                 like_count: int = 0, comment_count: int = 0) -> Any:
    """Add to the counters of a post locked by :func:`lock_published_post`, one version
    newer; the post's author, version and counters after."""
    row = (await session.execute(_CHANGE_COUNTERS, {
        "post_id": post.id, "likes": like_count, "comments": comment_count})).first()
    if row is None:
        raise NotFound("Post not found")
    return row


