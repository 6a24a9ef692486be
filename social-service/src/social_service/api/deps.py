"""Typed dependencies of social-service's routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from shared_lib.deps import UNAUTHORIZED, ClaimsDep, SessionDep
from social_service.services import users


@dataclass(frozen=True)
class Viewer:
    """The caller, known from a token minted by core-service."""

    id: int
    username: str


async def current_viewer(claims: ClaimsDep, session: SessionDep) -> Viewer:
    # a user core deactivated or deleted is refused here too, and so is a token
    # issued before a password change; a user not yet projected (just registered)
    # is let through: the token is core's word
    projected = await users.standing(session, claims.user_id)
    if projected is not None and (not projected.is_active or projected.deleted
                                  or claims.token_version < projected.token_version):
        raise UNAUTHORIZED
    username = claims.username or (projected.username if projected else "")
    return Viewer(id=claims.user_id, username=username)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
