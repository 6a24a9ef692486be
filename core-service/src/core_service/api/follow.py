"""/api/follow: follow and unfollow (both idempotent)."""

from __future__ import annotations

from fastapi import APIRouter

from core_service.api.deps import CurrentUser
from core_service.schemas import FollowOut
from core_service.services import follows
from shared_lib.deps import SessionDep
from shared_lib.web import IdPath

router = APIRouter(prefix="/api/follow", tags=["follow"])


@router.post("/{user_id}", response_model=FollowOut)
async def follow(user_id: IdPath, user: CurrentUser, session: SessionDep) -> FollowOut:
    await follows.follow(session, user, user_id)
    await session.commit()
    return FollowOut(following=True)


@router.delete("/{user_id}", response_model=FollowOut)
async def unfollow(user_id: IdPath, user: CurrentUser, session: SessionDep) -> FollowOut:
    await follows.unfollow(session, user, user_id)
    await session.commit()
    return FollowOut(following=False)
