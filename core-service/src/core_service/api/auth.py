"""/api/auth: register, login, OAuth2 token, me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from core_service.api.deps import CurrentUser, HasherDep, IssuerDep
from core_service.models import User
from core_service.schemas import LoginIn, RegisterIn, TokenOut, UserOut
from shared_lib.contracts.messages import UserRegistered
from shared_lib.deps import SessionDep
from shared_lib.outbox import publish_event

router = APIRouter(prefix="/api/auth", tags=["auth"])

_BAD_CREDENTIALS = HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect email or password",
                                 headers={"WWW-Authenticate": "Bearer"})


async def _taken(session: SessionDep, body: RegisterIn) -> str | None:
    rows = (await session.execute(
        select(func.lower(User.email) == body.email.lower(),
               func.lower(User.username) == body.username.lower())
        .where(or_(func.lower(User.email) == body.email.lower(),
                   func.lower(User.username) == body.username.lower()))
    )).all()
    if any(r[0] for r in rows):
        return "Email already registered"
    if rows:
        return "Username already taken"
    return None


@router.post("/register", response_model=UserOut, status_code=status.HTTP_201_CREATED)
async def register(body: RegisterIn, session: SessionDep, hasher: HasherDep) -> User:
    hashed = await hasher.hash_async(body.password)
    user = User(username=body.username, email=body.email.lower(), full_name=body.full_name,
                hashed_password=hashed)
    try:
        async with session.begin():
            if (problem := await _taken(session, body)) is not None:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, problem)
            session.add(user)
            await session.flush()
            await publish_event(session, UserRegistered(
                seq=user.version, user_id=user.id, username=user.username,
                full_name=user.full_name, bio=user.bio,
                profile_image_url=user.profile_image_url, is_active=True,
            ), source="core")
    except IntegrityError:
        # a concurrent registration took the name or address first
        async with session.begin():
            problem = await _taken(session, body)
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            problem or "Username already taken") from None
    return user


async def _authenticate(session: SessionDep, hasher: HasherDep, login: str,
                        password: str) -> User:
    user = (await session.execute(
        select(User).where(or_(func.lower(User.email) == login.lower(),
                               func.lower(User.username) == login.lower()))
    )).scalars().first()
    if user is None or not await hasher.verify_async(password, user.hashed_password) \
            or not user.is_active:
        raise _BAD_CREDENTIALS
    return user


@router.post("/login", response_model=TokenOut)
async def login(body: LoginIn, session: SessionDep, hasher: HasherDep,
                issuer: IssuerDep) -> TokenOut:
    user = await _authenticate(session, hasher, body.email, body.password)
    return TokenOut(access_token=issuer.issue(user.id, username=user.username))


@router.post("/token", response_model=TokenOut)
async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
                hasher: HasherDep, issuer: IssuerDep) -> TokenOut:
    user = await _authenticate(session, hasher, form.username[:320], form.password[:200])
    return TokenOut(access_token=issuer.issue(user.id, username=user.username))


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> User:
    return user
