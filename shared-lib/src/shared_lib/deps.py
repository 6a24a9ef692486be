"""FastAPI dependencies and app wiring that both services share.

Every dependency is ``async def``, even when it awaits nothing: FastAPI runs a
plain ``def`` dependency in its threadpool, a thread hop on every request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.database import Database
from shared_lib.runtime import ServiceRuntime
from shared_lib.security import InvalidToken, TokenClaims, TokenVerifier
from shared_lib.tracing import Tracing, shutdown_tracing
from shared_lib.web import bearer_scheme, bearer_token

log = logging.getLogger(__name__)


async def get_runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """A session per request; a write commits it, anything else rolls back at the end.

    The session closes as soon as the endpoint returns (``scope="function"``), so its
    connection goes back to the pool before the response is sent. Closing rolls back
    whatever the endpoint left open; when the database dropped the connection meanwhile
    that rollback fails, but the server has already rolled back: the connection is
    discarded and the endpoint's answer stands. (Raising there would turn a committed
    201 into an error, or, after the response, make the server drop the keep-alive
    connection under the gateway's feet.)
    """
    if runtime.sessions is None:
        raise RuntimeError("the service runtime has not started")
    session = runtime.sessions()
    try:
        yield session
    finally:
        try:
            await session.close()
        except (DBAPIError, OSError) as exc:
            log.warning("a request's database connection was lost before it closed; "
                        "discarding it (%s)", exc)
            await session.invalidate()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_database(request: Request) -> Database:
    """The hot paths' direct database access (:mod:`shared_lib.database`). (It takes
    the request, not :data:`RuntimeDep`: each level of dependencies is work FastAPI
    does again on every request.)"""
    db = request.app.state.runtime.db
    if db is None:
        raise RuntimeError("the service runtime has not started")
    return db


DatabaseDep = Annotated[Database, Depends(get_database)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]

#: the answer to a missing, malformed, expired or forged token
UNAUTHORIZED = HTTPException(status.HTTP_401_UNAUTHORIZED, "Could not validate credentials",
                             headers={"WWW-Authenticate": "Bearer"})


def claims_or_none(request: Request, creds: HTTPAuthorizationCredentials | None
                   ) -> TokenClaims | None:
    """The verified claims of the bearer token; None without one; 401 if it is bad.
    A plain function, for the dependencies that read the token: each calls it
    itself rather than depending on another dependency (one level less of work
    for FastAPI on every authenticated request)."""
    token = bearer_token(creds)
    if token is None:
        return None
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return verifier.verify(token)
    except InvalidToken:
        raise UNAUTHORIZED from None


def required_claims(request: Request, creds: HTTPAuthorizationCredentials | None
                    ) -> TokenClaims:
    """The verified claims of the bearer token (401 without one or if it is bad)."""
    claims = claims_or_none(request, creds)
    if claims is None:
        raise UNAUTHORIZED
    return claims


def login_session_id(claims: TokenClaims) -> uuid.UUID:
    """The login session the token belongs to (401 for a token without one)."""
    try:
        return uuid.UUID(hex=claims.session_id or "")
    except ValueError:
        raise UNAUTHORIZED from None


async def optional_claims(request: Request, creds: Credentials) -> TokenClaims | None:
    """The verified claims of the bearer token; None without one; 401 if it is bad."""
    return claims_or_none(request, creds)


OptionalClaimsDep = Annotated[TokenClaims | None, Depends(optional_claims)]


def runtime_lifespan(runtime: ServiceRuntime, tracing: Tracing | None = None
                     ) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: the runtime (database, broker, relay, consumers) runs
    while the app serves; ``tracing``'s last spans are exported once it has stopped."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
            try:
                yield
            finally:
                await runtime.stop()
        finally:
            shutdown_tracing(tracing)

    return lifespan
