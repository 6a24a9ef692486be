"""/api/feed: published posts of the user and of the people they follow."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import literal, select, union_all

from core_service.api.deps import CurrentUser
from core_service.models import Follow, Post, PostStatus, User
from core_service.schemas import PostOut
from core_service.services.posts import post_out
from shared_lib.deps import SessionDep
from shared_lib.web import Limit, Offset

router = APIRouter(prefix="/api/feed", tags=["feed"])


def feed_query(user_id: int, limit: int, offset: int):  # type: ignore[no-untyped-def]
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


@router.get("", response_model=list[PostOut])
async def feed(user: CurrentUser, session: SessionDep, limit: Limit = 20,
               offset: Offset = 0) -> list[PostOut]:
    rows = (await session.execute(feed_query(user.id, limit, offset))).all()
    return [post_out(p, name) for p, name in rows]
