"""/api/feed: published posts of the user and of the people they follow."""

from __future__ import annotations

from fastapi import APIRouter

from core_service.api.deps import TokenDep
from core_service.schemas import PostOut
from core_service.services import feed as feed_service
from shared_lib.deps import UNAUTHORIZED, DatabaseDep
from shared_lib.web import Limit, Offset

router = APIRouter(prefix="/api/feed", tags=["feed"])


@router.get("", response_model=list[PostOut])
async def feed(token: TokenDep, db: DatabaseDep, limit: Limit = 20,
               offset: Offset = 0) -> list[PostOut]:
    page = await feed_service.feed(db, token, limit, offset)
    if page is None:
        raise UNAUTHORIZED
    return [PostOut(id=p.id, author_id=p.author_id, author_username=p.author_username,
                    content=p.content, image_url=p.image_url, hashtags=p.hashtags,
                    like_count=p.like_count, comment_count=p.comment_count,
                    status="published", rejection_reason=None, created_at=p.created_at)
            for p in page]
