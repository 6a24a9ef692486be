"""Typed dependencies of social-service's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.runtime import ServiceRuntime
from shared_lib.security import InvalidToken, TokenVerifier
from shared_lib.web import bearer_scheme, bearer_token
from social_service.models import UserProjection
from social_service.settings import SocialSettings


def get_runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def get_settings(request: Request) -> SocialSettings:
    return request.app.state.settings


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]
SettingsDep = Annotated[SocialSettings, Depends(get_settings)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    assert runtime.sessions is not None
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


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
