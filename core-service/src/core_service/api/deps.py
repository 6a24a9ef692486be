"""Typed dependencies of core-service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from core_service.models import User
from shared_lib.deps import Credentials, SessionDep
from shared_lib.security import InvalidToken, PasswordHasher, TokenIssuer, TokenVerifier
from shared_lib.web import bearer_token


def get_issuer(request: Request) -> TokenIssuer:
    return request.app.state.issuer


def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


IssuerDep = Annotated[TokenIssuer, Depends(get_issuer)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]


_UNAUTHORIZED = HTTPException(
    status.HTTP_401_UNAUTHORIZED, "Could not validate credentials",
    headers={"WWW-Authenticate": "Bearer"},
)


async def _user_from_token(request: Request, session: AsyncSession, token: str | None) -> User:
    if token is None:
        raise _UNAUTHORIZED
    verifier: TokenVerifier = request.app.state.verifier
    try:
        claims = verifier.verify(token)
    except InvalidToken:
        raise _UNAUTHORIZED from None
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise _UNAUTHORIZED
    return user


async def current_user(request: Request, session: SessionDep, creds: Credentials) -> User:
    return await _user_from_token(request, session, bearer_token(creds))


async def optional_user(request: Request, session: SessionDep, creds: Credentials) -> User | None:
    token = bearer_token(creds)
    if token is None:
        return None
    return await _user_from_token(request, session, token)


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
