"""/api/users: profiles, profile changes, a user's posts, followers and following."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import exists, func, select

from core_service.api.deps import CurrentUser
from core_service.models import Follow, Post, PostStatus, StoryRecord, User
from core_service.sagas.delete_account import DELETE_ACCOUNT
from core_service.schemas import PostOut, ProfileOut, UserOut, UserSummary, UserUpdateIn
from core_service.services.posts import post_out
from core_service.services.users import update_profile
from shared_lib.deps import RuntimeDep, SessionDep
from shared_lib.saga import SagaStatus
from shared_lib.web import IdPath, Limit, Offset, run_saga

router = APIRouter(prefix="/api/users", tags=["users"])


@router.delete("/me", status_code=204,
               responses={202: {"description": "deletion still running"},
                          503: {"description": "social-service did not answer; kept"}})
async def delete_me(request: Request, user: CurrentUser, runtime: RuntimeDep,
                    session: SessionDep) -> Response:
    data = {"user_id": user.id, "username": user.username}
    outcome = await run_saga(request, runtime, session, DELETE_ACCOUNT, data)
    if not outcome.finished:
        return Response(status_code=202)
    if outcome.status == SagaStatus.completed:
        return Response(status_code=204)
    raise HTTPException(503, f"The account could not be deleted now: {outcome.reason}")


@router.put("/me", response_model=UserOut)
async def update_me(body: UserUpdateIn, user: CurrentUser, session: SessionDep) -> User:
    result = await update_profile(session, user, body.model_dump(exclude_unset=True))
    await session.commit()
    return result


async def _active_user(session: SessionDep, user_id: int) -> None:
    if not await session.scalar(select(User.is_active).where(User.id == user_id)):
        raise HTTPException(404, "User not found")


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


@router.get("/{user_id}/posts", response_model=list[PostOut])
async def user_posts(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                     limit: Limit = 20, offset: Offset = 0) -> list[PostOut]:
    await _active_user(session, user_id)
    rows = (await session.execute(
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.author_id == user_id, Post.status == PostStatus.published.value)
        .order_by(Post.created_at.desc(), Post.id.desc()).limit(limit).offset(offset)
    )).all()
    return [post_out(p, name) for p, name in rows]


async def _people(session: SessionDep, user_id: int, followers: bool, limit: int,
                  offset: int) -> list[UserSummary]:
    await _active_user(session, user_id)
    mine, theirs = ((Follow.followee_id, Follow.follower_id) if followers
                    else (Follow.follower_id, Follow.followee_id))
    rows = (await session.execute(
        select(User).join(Follow, theirs == User.id)
        .where(mine == user_id, User.is_active)
        .order_by(Follow.created_at.desc(), User.id).limit(limit).offset(offset)
    )).scalars()
    return [UserSummary.model_validate(u) for u in rows]


@router.get("/{user_id}/followers", response_model=list[UserSummary])
async def followers(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                    limit: Limit = 20, offset: Offset = 0) -> list[UserSummary]:
    return await _people(session, user_id, True, limit, offset)


@router.get("/{user_id}/following", response_model=list[UserSummary])
async def following(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                    limit: Limit = 20, offset: Offset = 0) -> list[UserSummary]:
    return await _people(session, user_id, False, limit, offset)
