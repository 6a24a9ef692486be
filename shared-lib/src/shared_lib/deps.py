"""FastAPI dependencies and app wiring that both services share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.runtime import ServiceRuntime
from shared_lib.security import InvalidToken, TokenClaims, TokenVerifier
from shared_lib.web import bearer_scheme, bearer_token


def get_runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A session per request; a write commits it, anything else rolls back at the end."""
    if runtime.sessions is None:
        raise RuntimeError("the service runtime has not started")
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

#: the answer to a missing, malformed, expired or forged token
UNAUTHORIZED = HTTPException(status.HTTP_401_UNAUTHORIZED, "Could not validate credentials",
                             headers={"WWW-Authenticate": "Bearer"})


def optional_claims(request: Request, creds: Credentials) -> TokenClaims | None:
    """The verified claims of the bearer token; None without one; 401 if it is bad."""
    token = bearer_token(creds)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return verifier.verify(token)
    except InvalidToken:
        raise UNAUTHORIZED from None


def token_claims(claims: Annotated[TokenClaims | None, Depends(optional_claims)]
                 ) -> TokenClaims:
    """The verified claims of the bearer token (401 without one)."""
    if claims is None:
        raise UNAUTHORIZED
    return claims


ClaimsDep = Annotated[TokenClaims, Depends(token_claims)]
OptionalClaimsDep = Annotated[TokenClaims | None, Depends(optional_claims)]


def runtime_lifespan(runtime: ServiceRuntime
                     ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the runtime (database, broker, relay, consumers) runs
    while the app serves."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return lifespan
