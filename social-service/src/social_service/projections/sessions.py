"""core's revoked login sessions as social keeps them: an access token that names
one is refused, though its signature and expiry are good. A row lives until the
session's last access token expires; each new revocation removes the expired ones."""

from __future__ import annotations

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from instasaga.messages import SessionRevoked
from social_service.models import RevokedSession


async def record(session: AsyncSession, event: SessionRevoked) -> None:
    """Refuse the session's tokens from now on (a duplicate changes nothing)."""
    await session.execute(delete(RevokedSession).where(RevokedSession.until < func.now()))
    stmt = pg_insert(RevokedSession).values(session_id=event.session_id,
                                            user_id=event.user_id, until=event.until)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=[RevokedSession.session_id],
        set_={"until": func.greatest(RevokedSession.until, stmt.excluded.until)}))
