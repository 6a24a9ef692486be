"""/api/search: users, hashtags (prefix, with published post counts), posts by hashtag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from instasaga.schemas import UserSummary
from shared_lib.deps import DatabaseDep, SessionDep
from shared_lib.text import SAFE_LINE
from shared_lib.web import Limit, Offset
from social_service.api.deps import CurrentViewer, ViewerTokenDep, admit
from social_service.models import UserProjection
from social_service.schemas import HashtagOut, PostOut
from social_service.services import search

router = APIRouter(prefix="/api/search", tags=["search"])

SearchText = Annotated[str, Query(min_length=1, max_length=100), SAFE_LINE]
#: a hashtag, with or without its '#'
Tag = Annotated[str, Path(min_length=1, max_length=101), SAFE_LINE]


@router.get("/users", response_model=list[UserSummary])
async def search_users(q: SearchText, session: SessionDep, viewer: CurrentViewer,
                       limit: Limit = 20, offset: Offset = 0) -> list[UserProjection]:
    return await search.users(session, q, limit=limit, offset=offset, viewer_id=viewer.id)


@router.get("/hashtags", response_model=list[HashtagOut])
async def search_hashtags(q: SearchText, token: ViewerTokenDep, db: DatabaseDep,
                          limit: Limit = 20, offset: Offset = 0) -> list[HashtagOut]:
    check, found = await search.hashtags(
        db, q, limit=limit, offset=offset, user_id=token.user_id,
        session_id=token.session_id, token_version=token.token_version)
    await admit(token, check, db)
    return [HashtagOut(id=h.id, name=h.name, post_count=h.post_count) for h in found]


@router.get("/posts/hashtag/{tag}", response_model=list[PostOut])
async def posts_by_hashtag(tag: Tag,
                           session: SessionDep, viewer: CurrentViewer, limit: Limit = 20,
                           offset: Offset = 0) -> list[PostOut]:
    found = await search.posts_with_hashtag(session, tag, limit=limit, offset=offset,
                                            viewer_id=viewer.id)
    return [PostOut(id=p.id, author_id=p.author_id, author_username=p.author_username,
                    content=p.content, image_url=p.image_url, hashtags=list(p.hashtags or []),
                    like_count=p.like_count, comment_count=p.comment_count,
                    status="published", rejection_reason=None, created_at=p.created_at)
            for p in found]
