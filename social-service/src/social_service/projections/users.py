"""core's users as social keeps them (search, display names, token checks)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.messages import UserRegistered, UserUpdated
from shared_lib.database import Database, Statement
from social_service.models import UserProjection


@dataclass(frozen=True)
class Standing:
    """What social knows of a user, for a request made with their token."""

    is_active: bool
    username: str
    #: access tokens of an older version predate a password change
    token_version: int
    #: the account is gone for good
    deleted: bool


@dataclass(frozen=True)
class TokenCheck:
    """The projected user (None when not projected yet: just registered) and whether
    the token's login session was revoked."""

    user: Standing | None
    session_revoked: bool


#: the projection's word on a token (every authenticated request of social asks it), as
#: CTEs, the last one ``checked`` with a column ``tok_ok`` (the token may be good), for a
#: statement of its own or fused with a hot path's read ($1 user id, $2 session id, $3
#: the token's version); :func:`token_check_of` reads its columns
TOKEN_CHECK_CTE = """
    tok AS (
        SELECT u.is_active AS tok_is_active, u.username AS tok_username,
               u.token_version AS tok_token_version, u.deleted AS tok_deleted,
               EXISTS (SELECT 1 FROM revoked_sessions r
                       WHERE r.session_id = $2 AND r.until > now()) AS tok_session_revoked
        FROM (SELECT 1) AS one LEFT JOIN users u ON u.id = $1),
    checked AS (
        SELECT tok.*, (NOT tok_session_revoked AND (tok_username IS NULL OR (
                   tok_is_active AND NOT tok_deleted AND $3 >= tok_token_version)))
               AS tok_ok
        FROM tok)"""


def token_check_of(row: Any) -> TokenCheck:
    """The token check of a row of a statement with ``TOKEN_CHECK_CTE``."""
    user = None if row["tok_username"] is None else Standing(
        is_active=row["tok_is_active"], username=row["tok_username"],
        token_version=row["tok_token_version"], deleted=row["tok_deleted"])
    return TokenCheck(user=user, session_revoked=row["tok_session_revoked"])


_CHECK_TOKEN = Statement("check_token", f"WITH {TOKEN_CHECK_CTE} SELECT * FROM checked")


async def check_token(db: Database, user_id: int, session_id: uuid.UUID, token_version: int
                      ) -> TokenCheck:
    """The projection's word on a token, in one autocommit statement."""
    row = await db.fetchrow(_CHECK_TOKEN, user_id, session_id, token_version)
    assert row is not None  # one row always
    return token_check_of(row)


#: the token is core's signed word that the user's token version is at least its own
_RAISE_TOKEN_VERSION = Statement(
    "raise_token_version",
    "UPDATE users SET token_version = $2 WHERE id = $1 AND token_version < $2")


async def raise_token_version(db: Database, user_id: int, token_version: int) -> None:
    """A token newer than the projection (``user.updated`` of a password change is late):
    from now on the tokens older than it are refused, as core refuses them (autocommit)."""
    await db.execute(_RAISE_TOKEN_VERSION, user_id, token_version)


async def apply_change(session: AsyncSession, user: UserRegistered | UserUpdated) -> None:
    """Project a registration or an update, unless the row holds a newer ``seq``. The
    token version never goes down (a token may have raised it before the event came)."""
    values = {"username": user.username, "full_name": user.full_name,
              "profile_image_url": user.profile_image_url, "is_active": user.is_active,
              "token_version": user.token_version, "is_private": user.is_private,
              "version": user.seq}
    stmt = pg_insert(UserProjection).values(id=user.user_id, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UserProjection.id],
            set_={**values, "token_version": func.greatest(UserProjection.token_version,
                                                           stmt.excluded.token_version)},
            where=UserProjection.version < stmt.excluded.version,
        )
    )
