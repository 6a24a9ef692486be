"""/api/follow: follow and unfollow (both idempotent), and follow requests to a
private account."""

from __future__ import annotations

from fastapi import APIRouter, Response

from core_service.api.deps import CurrentUser, TokenDep
from core_service.schemas import FollowOut
from core_service.services import follows
from instasaga.schemas import UserSummary
from shared_lib.database import Queries
from shared_lib.deps import DatabaseDep, SessionDep
from shared_lib.idempotency import IdempotencyDep, owned_by, run_direct_write
from shared_lib.web import IdPath, Limit, Offset

router = APIRouter(prefix="/api/follow", tags=["follow"])


@router.get("/requests", response_model=list[UserSummary])
async def follow_requests(user: CurrentUser, session: SessionDep, limit: Limit = 20,
                          offset: Offset = 0) -> list[UserSummary]:
    """Who asks to follow me, oldest first."""
    return [UserSummary.model_validate(u)
            for u in await follows.requests_to(session, user.id, limit, offset)]


@router.post("/requests/{user_id}/approve", response_model=FollowOut,
             responses={404: {"description": "No such follow request"}})
async def approve(user_id: IdPath, user: CurrentUser, session: SessionDep) -> FollowOut:
    await follows.approve(session, user, user_id)
    await session.commit()
    return FollowOut(following=True)


@router.post("/requests/{user_id}/decline", response_model=FollowOut,
             responses={404: {"description": "No such follow request"}})
async def decline(user_id: IdPath, user: CurrentUser, session: SessionDep) -> FollowOut:
    await follows.decline(session, user, user_id)
    await session.commit()
    return FollowOut(following=False)


@router.post("/{user_id}", response_model=FollowOut,
             responses={202: {"model": FollowOut,
                              "description": "A private account: the request waits"},
                        400: {"description": "Yourself"},
                        403: {"description": "Blocked, or your account is deactivated"},
                        404: {"description": "No such user"}})
async def follow(user_id: IdPath, token: TokenDep, db: DatabaseDep,
                 key: IdempotencyDep) -> Response:
    """Follow a user; for a private account, ask to (202 until its owner approves)."""

    async def write(q: Queries) -> FollowOut:
        state = await follows.follow(q, token, user_id)
        return FollowOut(following=state.following, requested=state.requested)

    return await run_direct_write(db, owned_by(key, token.user_id), write,
                                  status_code=lambda out: 202 if out.requested else 200)


@router.delete("/{user_id}", response_model=FollowOut,
               responses={400: {"description": "Yourself"},
                          403: {"description": "Your account is deactivated"},
                          404: {"description": "No such user"}})
async def unfollow(user_id: IdPath, user: CurrentUser, session: SessionDep) -> FollowOut:
    """Stop following, or withdraw a request."""
    await follows.unfollow(session, user, user_id)
    await session.commit()
    return FollowOut(following=False)
