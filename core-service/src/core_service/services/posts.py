"""Reading posts: one post as a viewer may see it, a user's published posts.

The post's life (created pending, published, rejected, deleted) is in
:mod:`core_service.services.post_lifecycle`; likes, comments and the counters
they change in :mod:`.likes`, :mod:`.comments` and :mod:`.post_counters`; the
feed in :mod:`.feed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import PostStatus, is_visible
from core_service.models import Post, User
from core_service.services import audience
from core_service.services.users import require_active
from shared_lib.database import Database, Statement
from shared_lib.errors import NotFound


@dataclass(frozen=True)
class PostRecord:
    """A post with its author's name, as the direct data path reads it."""

    id: int
    author_id: int
    author_username: str
    content: str | None
    image_url: str | None
    hashtags: list[str]
    like_count: int
    comment_count: int
    status: str
    rejection_reason: str | None
    created_at: datetime


_POST_RECORD_FIELDS = tuple(PostRecord.__dataclass_fields__)
_OWN_POST = Statement("posts.own", """
    SELECT p.id, p.author_id, u.username AS author_username, p.content, p.image_url,
           p.hashtags, p.like_count, p.comment_count, p.status, p.rejection_reason,
           p.created_at
    FROM posts p JOIN users u ON u.id = p.author_id
    WHERE p.id = $1 AND p.author_id = $2""")


def post_record(row: Any) -> PostRecord:
    """A row of a statement that selects :class:`PostRecord`'s columns (and others)."""
    return PostRecord(**{name: row[name] for name in _POST_RECORD_FIELDS
                         if name != "hashtags"}, hashtags=list(row["hashtags"] or []))


async def own_post(db: Database, post_id: int, author_id: int) -> PostRecord:
    """One of the author's own posts, whatever its status, in one autocommit statement
    (NotFound when it is gone)."""
    row = await db.fetchrow(_OWN_POST, post_id, author_id)
    if row is None:
        raise NotFound("Post not found")
    return post_record(row)


@dataclass(frozen=True)
class AuthoredPost:
    post: Post
    author_username: str


async def _load_post(session: AsyncSession, post_id: int) -> AuthoredPost | None:
    row = (await session.execute(
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.id == post_id)
    )).first()
    return AuthoredPost(row[0], row[1]) if row else None


async def visible_post(session: AsyncSession, post_id: int, viewer_id: int | None
                       ) -> AuthoredPost:
    """A post the viewer may see: published (and its author did not block them, and
    follows them if private), or any status for its author."""
    loaded = await _load_post(session, post_id)
    if loaded is None or not is_visible(loaded.post.status, loaded.post.author_id, viewer_id):
        raise NotFound("Post not found")
    await audience.require_post_access(session, viewer_id, loaded.post.author_id)
    return loaded


async def published_posts_of(session: AsyncSession, user_id: int, limit: int, offset: int
                             ) -> list[AuthoredPost]:
    """An active user's published posts, newest first."""
    await require_active(session, user_id)
    rows = (await session.execute(
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.author_id == user_id, Post.status == PostStatus.published.value)
        .order_by(Post.created_at.desc(), Post.id.desc()).limit(limit).offset(offset)
    )).all()
    return [AuthoredPost(p, name) for p, name in rows]


