"""/api/feed: published posts of the user and of the people they follow."""

from __future__ import annotations

from fastapi import APIRouter

from core_service.api.deps import TokenDep
from core_service.api.mapping import post_record_out
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
    return [post_record_out(p) for p in page]
