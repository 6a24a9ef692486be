"""Typed dependencies of social-service's routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from shared_lib.deps import UNAUTHORIZED, ClaimsDep, SessionDep
from social_service.projections import users


@dataclass(frozen=True)
class Viewer:
    """The caller, known from a token minted by core-service."""

    id: int
    username: str


async def current_viewer(claims: ClaimsDep, session: SessionDep) -> Viewer:
    """The caller; 401 like core answers it: a token without a login session, of a
    revoked session (logout, a reused refresh token, a password change), of a user core
    deactivated or deleted, or older than the user's token version. A user not projected
    yet (just registered) is let through: the token is core's word."""
    try:
        session_id = uuid.UUID(hex=claims.session_id or "")
    except ValueError:
        raise UNAUTHORIZED from None
    check = await users.check_token(session, claims.user_id, session_id)
    projected = check.user
    if check.session_revoked or (projected is not None and (
            not projected.is_active or projected.deleted
            or claims.token_version < projected.token_version)):
        raise UNAUTHORIZED
    if projected is not None and claims.token_version > projected.token_version:
        # the projection is behind the token (its user.updated is late): fail closed
        # for the older tokens from now on, not when the event comes
        await users.raise_token_version(session, claims.user_id, claims.token_version)
    username = claims.username or (projected.username if projected else "")
    return Viewer(id=claims.user_id, username=username)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
