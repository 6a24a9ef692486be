"""/api/users: profiles."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import exists, func, select

from core_service.api.deps import SessionDep
from core_service.models import StoryRecord, User
from core_service.schemas import ProfileOut
from shared_lib.web import IdPath

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/{user_id}", response_model=ProfileOut)
async def get_profile(user_id: IdPath, session: SessionDep) -> ProfileOut:
    has_story = exists().where(StoryRecord.author_id == User.id,
                               StoryRecord.expires_at > func.now())
    row = (await session.execute(
        select(User, has_story.label("has_active_story"))
        .where(User.id == user_id, User.is_active)
    )).first()
    if row is None:
        raise HTTPException(404, "User not found")
    user, has_active_story = row
    return ProfileOut(
        id=user.id, username=user.username, full_name=user.full_name,
        profile_image_url=user.profile_image_url, bio=user.bio, post_count=user.post_count,
        follower_count=user.follower_count, following_count=user.following_count,
        has_active_story=bool(has_active_story),
    )
