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
    # a user core deactivated or deleted is refused here too; a user not yet
    # projected (just registered) is let through: the token is core's word
    projected = await users.standing(session, claims.user_id)
    if projected is not None and not projected.is_active:
        raise UNAUTHORIZED
    username = claims.username or (projected.username if projected else "")
    return Viewer(id=claims.user_id, username=username)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
