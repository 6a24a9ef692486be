"""/api/search: users, hashtags (prefix, with published post counts), posts by hashtag.

Search text is matched literally (``%``, ``_`` and ``\\`` are escaped) and
case-insensitively, with trigram and prefix indexes behind it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, or_, select

from shared_lib.deps import SessionDep
from shared_lib.web import Limit, Offset
from social_service.api.deps import CurrentViewer
from social_service.domain.hashtags import escape_like, like_prefix
from social_service.models import Hashtag, PostHashtag, PostProjection, UserProjection
from social_service.schemas import HashtagOut, PostOut, UserSummary

router = APIRouter(prefix="/api/search", tags=["search"])

SearchText = Annotated[str, Query(min_length=1, max_length=100)]


@router.get("/users", response_model=list[UserSummary])
async def search_users(q: SearchText, session: SessionDep, viewer: CurrentViewer,
                       limit: Limit = 20, offset: Offset = 0) -> list[UserProjection]:
    needle = q.strip().lower()
    pattern = f"%{escape_like(needle)}%"
    username = func.lower(UserProjection.username)
    rows = (await session.execute(
        select(UserProjection)
        .where(UserProjection.is_active,
               or_(username.like(pattern, escape="\\"),
                   func.lower(UserProjection.full_name).like(pattern, escape="\\")))
        .order_by((username == needle).desc(),
                  username.like(like_prefix(needle), escape="\\").desc(),
                  UserProjection.username, UserProjection.id)
        .limit(limit).offset(offset)
    )).scalars()
    return list(rows)


@router.get("/hashtags", response_model=list[HashtagOut])
async def search_hashtags(q: SearchText, session: SessionDep, viewer: CurrentViewer,
                          limit: Limit = 20, offset: Offset = 0) -> list[HashtagOut]:
    prefix = q.strip().lstrip("#").lower()
    post_count = func.count(PostProjection.id).label("post_count")
    rows = (await session.execute(
        select(Hashtag.id, Hashtag.name, post_count)
        .join(PostHashtag, PostHashtag.hashtag_id == Hashtag.id)
        .join(PostProjection, (PostProjection.id == PostHashtag.post_id)
              & PostProjection.published)
        .where(Hashtag.name.like(like_prefix(prefix), escape="\\"))
        .group_by(Hashtag.id, Hashtag.name)
        .order_by(post_count.desc(), Hashtag.name)
        .limit(limit).offset(offset)
    )).all()
    return [HashtagOut(id=r.id, name=r.name, post_count=r.post_count) for r in rows]


@router.get("/posts/hashtag/{tag}", response_model=list[PostOut])
async def posts_by_hashtag(tag: Annotated[str, Path(min_length=1, max_length=101)],
                           session: SessionDep, viewer: CurrentViewer, limit: Limit = 20,
                           offset: Offset = 0) -> list[PostOut]:
    name = tag.strip().lstrip("#").lower()
    rows = (await session.execute(
        select(PostProjection)
        .join(PostHashtag, PostHashtag.post_id == PostProjection.id)
        .join(Hashtag, Hashtag.id == PostHashtag.hashtag_id)
        .where(Hashtag.name == name, PostProjection.published)
        .order_by(PostProjection.created_at.desc(), PostProjection.id.desc())
        .limit(limit).offset(offset)
    )).scalars()
    return [PostOut(id=p.id, author_id=p.author_id, author_username=p.author_username,
                    content=p.content, image_url=p.image_url, hashtags=list(p.hashtags or []),
                    like_count=p.like_count, comment_count=p.comment_count,
                    status="published", rejection_reason=None, created_at=p.created_at)
            for p in rows]
