"""Reading posts: one post as a viewer may see it, a user's published posts.

The post's life (created pending, published, rejected, deleted) is in
:mod:`core_service.services.post_lifecycle`; likes, comments and the counters
they change in :mod:`.likes`, :mod:`.comments` and :mod:`.post_counters`; the
feed in :mod:`.feed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import PostStatus, is_visible
from core_service.models import Post, User
from core_service.services import audience
from core_service.services.users import require_active
from shared_lib.errors import NotFound


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


