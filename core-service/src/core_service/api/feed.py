"""/api/feed: published posts of the user and of the people they follow."""

from __future__ import annotations

from fastapi import APIRouter

from core_service.api.deps import CurrentUser
from core_service.api.mapping import post_out
from core_service.schemas import PostOut
from core_service.services import feed as feed_service
from shared_lib.deps import SessionDep
from shared_lib.web import Limit, Offset

router = APIRouter(prefix="/api/feed", tags=["feed"])


@router.get("", response_model=list[PostOut])
async def feed(user: CurrentUser, session: SessionDep, limit: Limit = 20,
               offset: Offset = 0) -> list[PostOut]:
    return [post_out(p) for p in await feed_service.feed(session, user.id, limit, offset)]
