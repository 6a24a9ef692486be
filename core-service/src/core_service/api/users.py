"""/api/users: profiles, profile changes, a user's posts, followers and following."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from core_service.api.deps import CurrentUser, HasherDep
from core_service.api.mapping import post_out, profile_out
from core_service.sagas.delete_account import DELETE_ACCOUNT, DeleteAccountRejection
from core_service.schemas import PasswordIn, PostOut, ProfileOut, UserOut, UserUpdateIn
from core_service.services import auth, follows, posts, users
from shared_lib.deps import RuntimeDep, SessionDep
from shared_lib.saga.http import Rejections, run_saga, saga_response
from shared_lib.schemas import UserSummary
from shared_lib.web import IdPath, Limit, Offset

router = APIRouter(prefix="/api/users", tags=["users"])

#: the account is kept whatever the reason, a timeout included
DELETE_ACCOUNT_REJECTIONS = Rejections(
    {DeleteAccountRejection.already_deleting: 503}, default=503, failed_is_refused=True,
    details={503: "The account could not be deleted now: {reason}"})


@router.delete("/me", status_code=204,
               responses={202: {"description": "deletion still running"},
                          403: {"description": "the password is missing or wrong"},
                          503: {"description": "social-service did not answer; kept"}})
async def delete_me(request: Request, body: PasswordIn, user: CurrentUser, runtime: RuntimeDep,
                    session: SessionDep, hasher: HasherDep) -> Response:
    """Delete the account; the password is asked again."""
    data = {"user_id": user.id, "username": user.username}
    await auth.check_password(session, hasher, user, body.password)
    outcome = await run_saga(request, runtime, session, DELETE_ACCOUNT, data)
    return saga_response(outcome, rejections=DELETE_ACCOUNT_REJECTIONS, done_status=204)


@router.put("/me", response_model=UserOut)
async def update_me(body: UserUpdateIn, user: CurrentUser, session: SessionDep) -> UserOut:
    updated = await users.update_profile(session, user, body.model_dump(exclude_unset=True))
    await session.commit()
    return UserOut.model_validate(updated)


@router.get("/{user_id}", response_model=ProfileOut)
async def get_profile(user_id: IdPath, session: SessionDep) -> ProfileOut:
    return profile_out(await users.profile(session, user_id))


@router.get("/{user_id}/posts", response_model=list[PostOut])
async def user_posts(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                     limit: Limit = 20, offset: Offset = 0) -> list[PostOut]:
    return [post_out(p) for p in await posts.published_posts_of(session, user_id, limit, offset)]


@router.get("/{user_id}/followers", response_model=list[UserSummary])
async def followers(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                    limit: Limit = 20, offset: Offset = 0) -> list[UserSummary]:
    return [UserSummary.model_validate(u)
            for u in await follows.followers(session, user_id, limit, offset)]


@router.get("/{user_id}/following", response_model=list[UserSummary])
async def following(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                    limit: Limit = 20, offset: Offset = 0) -> list[UserSummary]:
    return [UserSummary.model_validate(u)
            for u in await follows.following(session, user_id, limit, offset)]
