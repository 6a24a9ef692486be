"""/api/users: profiles, profile changes, a user's posts, followers and following."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from core_service.api.deps import CurrentUser, HasherDep, OptionalUser
from core_service.api.mapping import post_out, profile_out
from core_service.sagas.delete_account import (
    DELETE_ACCOUNT,
    DeleteAccountData,
    DeleteAccountRejection,
)
from core_service.schemas import (
    BlockOut,
    PasswordIn,
    PostOut,
    ProfileOut,
    UserOut,
    UserUpdateIn,
)
from core_service.services import audience, auth, blocks, follows, posts, users
from instasaga.schemas import UserSummary
from shared_lib.deps import RuntimeDep, SessionDep
from shared_lib.saga.http import Rejections, run_saga, saga_response
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
    data = DeleteAccountData(user_id=user.id, username=user.username)
    await auth.check_password(session, hasher, user, body.password)
    outcome = await run_saga(request, runtime, session, DELETE_ACCOUNT, data)
    return saga_response(outcome, rejections=DELETE_ACCOUNT_REJECTIONS, done_status=204)


@router.put("/me", response_model=UserOut)
async def update_me(body: UserUpdateIn, user: CurrentUser, session: SessionDep) -> UserOut:
    """Change the profile; a private account going public approves every pending
    follow request."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("is_private", False) is None:
        del changes["is_private"]  # null leaves it as it is
    going_public = user.is_private and changes.get("is_private") is False
    updated = await users.update_profile(session, user, changes)
    if going_public:
        await follows.approve_all(session, updated.id, updated.username)
    await session.commit()
    return UserOut.model_validate(updated)


@router.get("/me/blocked", response_model=list[UserSummary])
async def my_blocked(user: CurrentUser, session: SessionDep, limit: Limit = 20,
                     offset: Offset = 0) -> list[UserSummary]:
    """The users I blocked, the latest first."""
    return [UserSummary.model_validate(u)
            for u in await blocks.blocked_by(session, user.id, limit, offset)]


@router.get("/{user_id}", response_model=ProfileOut,
            responses={404: {"description": "No such user, or they blocked you"}})
async def get_profile(user_id: IdPath, session: SessionDep, viewer: OptionalUser) -> ProfileOut:
    await audience.require_profile(session, viewer.id if viewer else None, user_id)
    return profile_out(await users.profile(session, user_id))


_PRIVATE = {403: {"description": "This account is private"},
            404: {"description": "No such user, or they blocked you"}}


@router.get("/{user_id}/posts", response_model=list[PostOut], responses=_PRIVATE)
async def user_posts(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                     limit: Limit = 20, offset: Offset = 0) -> list[PostOut]:
    await audience.require_content(session, viewer.id, user_id)
    return [post_out(p) for p in await posts.published_posts_of(session, user_id, limit, offset)]


@router.get("/{user_id}/followers", response_model=list[UserSummary], responses=_PRIVATE)
async def followers(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                    limit: Limit = 20, offset: Offset = 0) -> list[UserSummary]:
    await audience.require_content(session, viewer.id, user_id)
    return [UserSummary.model_validate(u)
            for u in await follows.followers(session, user_id, limit, offset)]


@router.get("/{user_id}/following", response_model=list[UserSummary], responses=_PRIVATE)
async def following(user_id: IdPath, viewer: CurrentUser, session: SessionDep,
                    limit: Limit = 20, offset: Offset = 0) -> list[UserSummary]:
    await audience.require_content(session, viewer.id, user_id)
    return [UserSummary.model_validate(u)
            for u in await follows.following(session, user_id, limit, offset)]


@router.post("/{user_id}/block", response_model=BlockOut,
             responses={400: {"description": "Yourself"}, 404: {"description": "No such user"}})
async def block(user_id: IdPath, user: CurrentUser, session: SessionDep) -> BlockOut:
    """Block a user (idempotent): follows and follow requests between you end, and
    they no longer see you."""
    await blocks.block(session, user, user_id)
    await session.commit()
    return BlockOut(blocked=True)


@router.delete("/{user_id}/block", response_model=BlockOut,
               responses={400: {"description": "Yourself"}})
async def unblock(user_id: IdPath, user: CurrentUser, session: SessionDep) -> BlockOut:
    await blocks.unblock(session, user, user_id)
    await session.commit()
    return BlockOut(blocked=False)
