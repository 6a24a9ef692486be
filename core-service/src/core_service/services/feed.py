"""The feed: published posts of the user and of the people they follow."""

from __future__ import annotations

from sqlalchemy import Select, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.domain.posts import PostStatus
from core_service.models import Follow, Post, User
from core_service.services.posts import AuthoredPost


def feed_query(user_id: int, limit: int, offset: int) -> Select[tuple[Post, str]]:
    authors = union_all(
        select(Follow.followee_id).where(Follow.follower_id == user_id),
        select(literal(user_id)),
    )
    return (
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.status == PostStatus.published.value, Post.author_id.in_(authors))
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(limit).offset(offset)
    )


async def feed(session: AsyncSession, user_id: int, limit: int, offset: int
               ) -> list[AuthoredPost]:
    rows = (await session.execute(feed_query(user_id, limit, offset))).all()
    return [AuthoredPost(p, name) for p, name in rows]
