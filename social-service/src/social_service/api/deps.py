"""Typed dependencies of social-service's routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select

from shared_lib.deps import Credentials, SessionDep
from shared_lib.security import InvalidToken, TokenVerifier
from shared_lib.web import bearer_token
from social_service.models import UserProjection


@dataclass(frozen=True)
class Viewer:
    """The caller, known from a token minted by core-service."""

    id: int
    username: str


_UNAUTHORIZED = HTTPException(
    status.HTTP_401_UNAUTHORIZED, "Could not validate credentials",
    headers={"WWW-Authenticate": "Bearer"},
)


async def current_viewer(request: Request, session: SessionDep, creds: Credentials) -> Viewer:
    token = bearer_token(creds)
    if token is None:
        raise _UNAUTHORIZED
    verifier: TokenVerifier = request.app.state.verifier
    try:
        claims = verifier.verify(token)
    except InvalidToken:
        raise _UNAUTHORIZED from None
    # a user core deactivated or deleted is refused here too; a user not yet
    # projected (just registered) is let through: the token is core's word
    projected = (await session.execute(
        select(UserProjection.is_active, UserProjection.username)
        .where(UserProjection.id == claims.user_id))).first()
    if projected is not None and not projected.is_active:
        raise _UNAUTHORIZED
    username = claims.username or (projected.username if projected else "")
    return Viewer(id=claims.user_id, username=username)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
