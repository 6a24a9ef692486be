"""A published post's counters (likes, comments): every change locks the post's row
first, so likes, comments and the post's deletion are serialised, and each
change makes the post one version newer (the events' ordering key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import PostStatus
from core_service.models import Post
from shared_lib.errors import NotFound


@dataclass(frozen=True)
class LockedPost:
    id: int
    author_id: int


async def lock_published_post(session: AsyncSession, post_id: int) -> LockedPost:
    """Lock a published post's row: every change of its counters goes through here,
    so likes, comments and deletion of one post are serialised."""
    row = (await session.execute(
        select(Post.id, Post.author_id).where(Post.id == post_id,
                                              Post.status == PostStatus.published.value)
        .with_for_update()
    )).first()
    if row is None:
        raise NotFound("Post not found")
    return LockedPost(row.id, row.author_id)


async def _change_counters(session: AsyncSession, post_id: int, *where: ColumnElement[bool],
                           **deltas: int) -> Any:
    """Add ``deltas`` to the post's counters, one version newer; the post's
    author, version and counters after, or None when no post matched."""
    values = {name: getattr(Post, name) + d for name, d in deltas.items()}
    return (await session.execute(
        update(Post).where(Post.id == post_id, *where)
        .values(**values, version=Post.version + 1)
        .returning(Post.author_id, Post.version, Post.like_count, Post.comment_count)
    )).first()


async def change_locked_counters(session: AsyncSession, post: LockedPost, **deltas: int
                                  ) -> Any:
    row = await _change_counters(session, post.id, **deltas)
    if row is None:
        raise NotFound("Post not found")
    return row


