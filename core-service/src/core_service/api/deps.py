"""Typed dependencies of core-service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core_service.models import User
from core_service.services import users
from core_service.services.users import AccessToken
from shared_lib.deps import (
    UNAUTHORIZED,
    Credentials,
    OptionalClaimsDep,
    SessionDep,
    login_session_id,
    required_claims,
)
from shared_lib.security import PasswordHasher, TokenClaims, TokenIssuer


async def get_issuer(request: Request) -> TokenIssuer:
    return request.app.state.issuer


async def get_hasher(request: Request) -> PasswordHasher:
    return request.app.state.hasher


IssuerDep = Annotated[TokenIssuer, Depends(get_issuer)]
HasherDep = Annotated[PasswordHasher, Depends(get_hasher)]


async def access_token(request: Request, creds: Credentials) -> AccessToken:
    """The bearer token's verified claims, not yet checked against the database: a
    route that takes it checks it in its own statement (``users.TOKEN_HOLDER_CTE``)
    and answers 401 when the token is no longer good."""
    return _access_token(required_claims(request, creds))


def _access_token(claims: TokenClaims) -> AccessToken:
    return AccessToken(claims.user_id, claims.token_version, login_session_id(claims))


TokenDep = Annotated[AccessToken, Depends(access_token)]


async def current_user(token: TokenDep, session: SessionDep) -> User:
    """The user of the bearer token; 401 without a valid token, when the user is
    gone or deactivated, when its login session was revoked (logout, a reused
    refresh token) or when it predates a password change."""
    user = await users.token_holder(session, token.user_id, token.token_version,
                                    token.session_id)
    if user is None:
        raise UNAUTHORIZED
    return user


async def optional_user(claims: OptionalClaimsDep, session: SessionDep) -> User | None:
    """The user of the bearer token, None without one; 401 like ``current_user``
    when a token is sent but is not good."""
    if claims is None:
        return None
    return await current_user(_access_token(claims), session)


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
