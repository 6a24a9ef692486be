"""/api/auth: register, login, OAuth2 token, me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from core_service.api.deps import CurrentUser, HasherDep, IssuerDep
from core_service.models import User
from core_service.schemas import LoginIn, RegisterIn, TokenOut, UserOut
from core_service.services import auth
from shared_lib.deps import SessionDep

router = APIRouter(prefix="/api/auth", tags=["auth"])

_BAD_CREDENTIALS = HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect email or password",
                                 headers={"WWW-Authenticate": "Bearer"})


@router.post("/register", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def register(body: RegisterIn, session: SessionDep, hasher: HasherDep) -> UserOut:
    user = await auth.register(session, hasher, username=body.username, email=body.email,
                               password=body.password, full_name=body.full_name)
    await session.commit()
    return UserOut.model_validate(user)


def _token_for(user: User | None, issuer: IssuerDep) -> TokenOut:
    if user is None:
        raise _BAD_CREDENTIALS
    return TokenOut(access_token=issuer.issue(user.id, username=user.username))


@router.post("/login", response_model=TokenOut)
async def login(body: LoginIn, session: SessionDep, hasher: HasherDep,
                issuer: IssuerDep) -> TokenOut:
    user = await auth.authenticate(session, hasher, body.email, body.password)
    return _token_for(user, issuer)


@router.post("/token", response_model=TokenOut)
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
                hasher: HasherDep, issuer: IssuerDep) -> TokenOut:
    user = await auth.authenticate(session, hasher, form.username[:320], form.password[:200])
    return _token_for(user, issuer)


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
