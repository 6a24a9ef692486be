"""core's follow graph as social keeps it (for the story feed). An unfollow
keeps the edge with ``active = false`` at its ``seq``, so that a late, older
follow event cannot revive it."""

from __future__ import annotations

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.messaging.consumer import MessageContext
from shared_lib.messaging.inbox import claimed
from social_service.models import FollowEdge

#: a follow ($3) or an unfollow at ``seq`` ($4), unless the edge holds a newer one, with
#: the claim of the message, in one statement; a follow of or by a deleted user
#: (queued when purge_user ran) changes nothing, the users read FOR SHARE in id order
#: first (core's unfollow for that pair follows anyway)
_APPLY_CLAIMED = claimed("follows.apply_claimed", before="""
    gone AS MATERIALIZED (
        SELECT coalesce(bool_or(u.deleted), false) AS deleted FROM (
            SELECT deleted FROM users
            WHERE $3 AND id IN ($1, $2) AND EXISTS (SELECT 1 FROM claim)
            ORDER BY id FOR SHARE) u)""", effect="""
    INSERT INTO follows (follower_id, followee_id, active, version)
    SELECT $1, $2, $3, $4 FROM claim WHERE NOT (SELECT deleted FROM gone)
    ON CONFLICT (follower_id, followee_id) DO UPDATE
    SET active = excluded.active, version = excluded.version
    WHERE follows.version < excluded.version""")


async def apply_claimed(ctx: MessageContext, *, follower_id: int, followee_id: int,
                        follows: bool, seq: int) -> None:
    """Record a follow or an unfollow (see ``_APPLY_CLAIMED``) and claim the message
    being handled, in one statement."""
    await ctx.claimed(_APPLY_CLAIMED, follower_id, followee_id, follows, seq)


def followees_of(user_id: int) -> Select[tuple[int]]:
    """The query of the users ``user_id`` follows (to use in another query)."""
    return select(FollowEdge.followee_id).where(FollowEdge.follower_id == user_id,
                                                FollowEdge.active)


async def deactivate_edges_of(session: AsyncSession, user_id: int) -> None:
    """Every edge from or to ``user_id`` becomes inactive (kept, at its ``seq``)."""
    await session.execute(update(FollowEdge)
                          .where(or_(FollowEdge.follower_id == user_id,
                                     FollowEdge.followee_id == user_id))
                          .values(active=False))
