"""/api/search: hashtags (prefix, with published post counts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from shared_lib.web import Limit, Offset
from social_service.api.deps import CurrentViewer, SessionDep
from social_service.domain.hashtags import like_prefix
from social_service.models import Hashtag, PostHashtag, PostProjection

router = APIRouter(prefix="/api/search", tags=["search"])


class HashtagOut(BaseModel):
    id: int
    name: str
    post_count: int


@router.get("/hashtags", response_model=list[HashtagOut])
async def search_hashtags(
    q: Annotated[str, Query(min_length=1, max_length=100)],
    session: SessionDep, viewer: CurrentViewer, limit: Limit = 20, offset: Offset = 0,
) -> list[HashtagOut]:
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
