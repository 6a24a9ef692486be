"""/api/auth: register, login (and the OAuth2 token form), refresh, logout, password, me."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status

from core_service.api.deps import CurrentUser, HasherDep, IssuerDep
from core_service.schemas import (
    LoginIn,
    PasswordChangeIn,
    RefreshIn,
    RegisterIn,
    TokenOut,
    UserOut,
)
from core_service.services import auth, sessions
from core_service.settings import CoreSettings
from shared_lib.deps import SessionDep
from shared_lib.idempotency import IdempotencyDep, owned_by, run_write
from shared_lib.text import SAFE_LINE, SAFE_TEXT

router = APIRouter(prefix="/api/auth", tags=["auth"])

_BAD_CREDENTIALS = HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect email or password",
                                 headers={"WWW-Authenticate": "Bearer"})
_BAD_REFRESH = HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid or expired refresh token",
                             headers={"WWW-Authenticate": "Bearer"})
_BUSY = {503: {"description": "Too many password checks at once; retry after Retry-After"}}


async def _refresh_lifetime(request: Request) -> timedelta:
    settings: CoreSettings = request.app.state.settings
    return timedelta(days=settings.refresh_token_days)


RefreshLifetime = Annotated[timedelta, Depends(_refresh_lifetime)]


def _tokens(grant: sessions.Grant, issuer: IssuerDep) -> TokenOut:
    access = issuer.issue(grant.user_id, username=grant.username,
                          token_version=grant.token_version, session_id=grant.session_id.hex)
    return TokenOut(access_token=access, expires_in=int(issuer.lifetime.total_seconds()),
                    refresh_token=grant.refresh_token)


@router.post("/register", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             responses=_BUSY)
async def register(body: RegisterIn, session: SessionDep, hasher: HasherDep,
                   key: IdempotencyDep) -> Response:
    async def write() -> UserOut:
        user = await auth.register(session, hasher, username=body.username,
                                   email=body.email, password=body.password,
                                   full_name=body.full_name)
        return UserOut.model_validate(user)

    return await run_write(session, owned_by(key, None), write, status_code=201)


async def _log_in(session: SessionDep, hasher: HasherDep, issuer: IssuerDep,
                  lifetime: timedelta, login: str, password: str) -> TokenOut:
    who = await auth.authenticate(session, hasher, login, password)
    if who is None:
        raise _BAD_CREDENTIALS
    grant = await sessions.open_session(session, who.user_id, who.username, who.token_version,
                                        lifetime)
    await session.commit()
    return _tokens(grant, issuer)


@router.post("/login", response_model=TokenOut, responses=_BUSY)
async def login(body: LoginIn, session: SessionDep, hasher: HasherDep, issuer: IssuerDep,
                lifetime: RefreshLifetime) -> TokenOut:
    return await _log_in(session, hasher, issuer, lifetime, body.email, body.password)


@router.post("/token", response_model=TokenOut, responses=_BUSY)
async def token(username: Annotated[str, Form(min_length=1, max_length=320), SAFE_LINE],
                password: Annotated[str, Form(min_length=1, max_length=200), SAFE_TEXT],
                session: SessionDep, hasher: HasherDep, issuer: IssuerDep,
                lifetime: RefreshLifetime,
                grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
                ) -> TokenOut:
    """The OAuth2 password form (``username`` is the e-mail or the username)."""
    return await _log_in(session, hasher, issuer, lifetime, username, password)


@router.post("/refresh", response_model=TokenOut,
             responses={401: {"description": "Unknown, expired, revoked or reused token"}})
async def refresh(body: RefreshIn, session: SessionDep, issuer: IssuerDep,
                  lifetime: RefreshLifetime) -> TokenOut:
    """A new access and refresh token for a refresh token, which stops working. Presenting
    a refresh token that was already exchanged revokes its whole login session."""
    try:
        grant = await sessions.rotate(session, body.refresh_token, lifetime, issuer.lifetime)
    except sessions.InvalidRefreshToken:
        await session.commit()  # a reused token's session stays revoked
        raise _BAD_REFRESH from None
    await session.commit()
    return _tokens(grant, issuer)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshIn, session: SessionDep, issuer: IssuerDep) -> Response:
    """End the login session of a refresh token: it and every access token of the
    session stop working, on both services."""
    await sessions.log_out(session, body.refresh_token, issuer.lifetime)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/password", status_code=status.HTTP_204_NO_CONTENT,
            responses={403: {"description": "The current password is not correct"}, **_BUSY})
async def change_password(body: PasswordChangeIn, user: CurrentUser, session: SessionDep,
                          hasher: HasherDep, issuer: IssuerDep) -> Response:
    """Change the password; every login session ends and every access token issued
    before is refused."""
    await auth.change_password(session, hasher, user, body.current_password,
                               body.new_password, issuer.lifetime)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
