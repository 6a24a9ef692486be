"""Typed dependencies of social-service's routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Annotated

from fastapi import Depends, Request

from shared_lib.database import Database
from shared_lib.deps import (
    UNAUTHORIZED,
    Credentials,
    DatabaseDep,
    login_session_id,
    required_claims,
)
from social_service.projections import users
from social_service.projections.users import TokenCheck


@dataclass(frozen=True)
class Viewer:
    """The caller, known from a token minted by core-service."""

    id: int
    username: str


@dataclass(frozen=True)
class ViewerToken:
    """The bearer token's verified claims, not yet checked against the projection: a
    hot path checks it in its own statement (``users.TOKEN_CHECK_CTE``)."""

    user_id: int
    token_version: int
    session_id: uuid.UUID
    username: str | None


async def viewer_token(request: Request, creds: Credentials) -> ViewerToken:
    claims = required_claims(request, creds)
    return ViewerToken(claims.user_id, claims.token_version, login_session_id(claims),
                       claims.username)


ViewerTokenDep = Annotated[ViewerToken, Depends(viewer_token)]


class Admission(Enum):
    refused = "refused"
    admitted = "admitted"
    #: admitted; the projection is behind the token (its user.updated is late)
    admitted_ahead = "admitted_ahead"


def admission(token: ViewerToken, check: TokenCheck) -> Admission:
    """401 like core answers it: a token of a revoked session (logout, a reused refresh
    token, a password change), of a user core deactivated or deleted, or older than the
    user's token version. A user not projected yet (just registered) is let through:
    the token is core's word."""
    projected = check.user
    if check.session_revoked or (projected is not None and (
            not projected.is_active or projected.deleted
            or token.token_version < projected.token_version)):
        return Admission.refused
    if projected is not None and token.token_version > projected.token_version:
        return Admission.admitted_ahead
    return Admission.admitted


def viewer_of(token: ViewerToken, check: TokenCheck) -> Viewer:
    username = token.username or (check.user.username if check.user else "")
    return Viewer(id=token.user_id, username=username)


async def admit(token: ViewerToken, check: TokenCheck, db: Database) -> Viewer:
    """The viewer of a token checked in a hot path's own statement (401 if refused)."""
    verdict = admission(token, check)
    if verdict is Admission.refused:
        raise UNAUTHORIZED
    if verdict is Admission.admitted_ahead:
        # fail closed for the older tokens from now on, not when the event comes
        await users.raise_token_version(db, token.user_id, token.token_version)
    return viewer_of(token, check)


async def current_viewer(token: ViewerTokenDep, db: DatabaseDep) -> Viewer:
    """The caller, checked against the projection (see :func:`admission`) in one
    autocommit statement."""
    check = await users.check_token(db, token.user_id, token.session_id,
                                    token.token_version)
    return await admit(token, check, db)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]
